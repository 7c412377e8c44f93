// Command loadgen drives fleet.inference.v1.InferenceService.GetModelReady
// through the generated Go client at a fixed concurrency for a fixed time and
// prints one JSON line: calls, errors, QPS, p50 and p99 in milliseconds.
// bench/runtime_vs_bare.py runs it against each server it compares.
//
//	loadgen -addr 127.0.0.1:50051 -c 8 -conns 1 -warmup 1s -d 5s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	inferencev1 "github.com/fleet-platform/contracts/generated/go/fleet/inference/v1"
)

type result struct {
	Concurrency int     `json:"concurrency"`
	Conns       int     `json:"conns"`
	Calls       int     `json:"calls"`
	Errors      int64   `json:"errors"`
	QPS         float64 `json:"qps"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
}

func main() {
	addr := flag.String("addr", "", "server address")
	concurrency := flag.Int("c", 8, "calls in flight at any time")
	conns := flag.Int("conns", 1, "client connections the callers share (SO_REUSEPORT spreads connections, not calls)")
	warmup := flag.Duration("warmup", time.Second, "calls made before measuring")
	duration := flag.Duration("d", 5*time.Second, "how long to measure")
	flag.Parse()
	if *addr == "" || *concurrency < 1 || *conns < 1 {
		fmt.Fprintln(os.Stderr, "loadgen: -addr is required; -c and -conns must be at least 1")
		os.Exit(2)
	}
	clients := make([]*inferencev1.InferenceServiceConn, *conns)
	for i := range clients {
		// The bare server has no health service: skip the client-side check for both.
		client, err := inferencev1.NewInferenceServiceConn(*addr, inferencev1.WithInsecure(), inferencev1.WithoutHealthCheck())
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		defer client.Close()
		clients[i] = client
	}
	req := &inferencev1.GetModelReadyRequest{ModelName: "bench"}
	var errors atomic.Int64
	var measuring atomic.Bool
	stop := make(chan struct{})
	latencies := make([][]time.Duration, *concurrency)
	var wg sync.WaitGroup
	for w := range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := clients[w%len(clients)]
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				_, err := client.GetModelReady(context.Background(), req)
				took := time.Since(start)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					errors.Add(1)
					continue
				}
				latencies[w] = append(latencies[w], took)
			}
		}()
	}
	time.Sleep(*warmup)
	measuring.Store(true)
	began := time.Now()
	time.Sleep(*duration)
	measuring.Store(false)
	elapsed := time.Since(began)
	close(stop)
	wg.Wait()

	all := slices.Concat(latencies...)
	slices.Sort(all)
	quantile := func(q float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(q*float64(len(all)-1))].Microseconds()) / 1000
	}
	out := result{*concurrency, *conns, len(all), errors.Load(), float64(len(all)) / elapsed.Seconds(), quantile(0.50), quantile(0.99)}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
}
