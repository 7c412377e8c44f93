// Command loadgen is a closed-loop load generator: -c callers each make one
// call, wait for its answer and make the next, for a fixed time, then it
// prints one JSON line: calls, errors, QPS, p50 and p99 in milliseconds.
//
// Modes (-mode):
//
//	ready    fleet.inference.v1 GetModelReady through the generated Go client
//	         (bench/runtime_vs_bare.py: the serving runtime's own cost)
//	predict  fleet.inference.v1 Predict through the generated Go client, one
//	         FP32 tensor of -shape filled from a fixed seed
//	kserve   the same tensor to Triton's KServe v2 GRPCInferenceService.ModelInfer
//	         (kservev2/, generated from the protocol's messages)
//
// bench/inference_servers.py runs predict and kserve against the servers it
// compares. A call that fails, or whose answer lacks the -output tensor with
// the expected number of bytes, counts as an error.
//
//	loadgen -mode predict -addr 127.0.0.1:50051 -model classifier -input image \
//	    -output logits -shape 1,3,32,32 -out-elems 10 -c 8 -warmup 1s -d 5s
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fleet-platform/contracts/bench/loadgen/kservev2"
	inferencev1 "github.com/fleet-platform/contracts/generated/go/fleet/inference/v1"
)

type result struct {
	Mode        string  `json:"mode"`
	Concurrency int     `json:"concurrency"`
	Conns       int     `json:"conns"`
	Calls       int     `json:"calls"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	QPS         float64 `json:"qps"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
}

// tensorSpec is what one call sends and expects back.
type tensorSpec struct {
	model, input, output string
	shape                []int64
	outBytes             int
	data                 []byte
}

// call makes one call on connection i and reports whether the answer was right.
type call func(ctx context.Context, i int) error

func main() {
	mode := flag.String("mode", "ready", "ready | predict | kserve")
	addr := flag.String("addr", "", "server address")
	concurrency := flag.Int("c", 8, "calls in flight at any time")
	conns := flag.Int("conns", 1, "client connections the callers share (SO_REUSEPORT spreads connections, not calls)")
	warmup := flag.Duration("warmup", time.Second, "calls made before measuring")
	duration := flag.Duration("d", 5*time.Second, "how long to measure")
	model := flag.String("model", "classifier", "predict, kserve: model name")
	input := flag.String("input", "image", "predict, kserve: input tensor name")
	output := flag.String("output", "logits", "predict, kserve: output tensor name")
	shape := flag.String("shape", "1,3,32,32", "predict, kserve: FP32 input shape, batch dimension included")
	outElems := flag.Int("out-elems", 10, "predict, kserve: FP32 elements expected in the output")
	flag.Parse()
	if *addr == "" || *concurrency < 1 || *conns < 1 {
		fail(2, errors.New("-addr is required; -c and -conns must be at least 1"))
	}
	spec, err := newTensorSpec(*model, *input, *output, *shape, *outElems)
	if err != nil {
		fail(2, err)
	}
	var do call
	var closeAll func()
	switch *mode {
	case "ready", "predict":
		do, closeAll, err = fleetCalls(*mode, *addr, *conns, spec)
	case "kserve":
		do, closeAll, err = kserveCalls(*addr, *conns, spec)
	default:
		err = fmt.Errorf("unknown -mode %q: ready, predict or kserve", *mode)
	}
	if err != nil {
		fail(2, err)
	}
	defer closeAll()
	out := drive(do, *concurrency, *conns, *warmup, *duration)
	out.Mode = *mode
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(2, err)
	}
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(code)
}

func newTensorSpec(model, input, output, shape string, outElems int) (tensorSpec, error) {
	spec := tensorSpec{model: model, input: input, output: output, outBytes: 4 * outElems}
	elems := int64(1)
	for _, part := range strings.Split(shape, ",") {
		dim, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
		if err != nil || dim < 1 {
			return spec, fmt.Errorf("-shape %q: %q is not a positive integer", shape, part)
		}
		spec.shape = append(spec.shape, dim)
		elems *= dim
	}
	// Fixed seed: every run and every server gets the same tensor.
	rng := rand.New(rand.NewPCG(1, 2))
	spec.data = make([]byte, 4*elems)
	for i := range elems {
		binary.LittleEndian.PutUint32(spec.data[4*i:], math.Float32bits(rng.Float32()))
	}
	return spec, nil
}

func fleetCalls(mode, addr string, conns int, spec tensorSpec) (call, func(), error) {
	clients := make([]*inferencev1.InferenceServiceConn, conns)
	closeAll := func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}
	for i := range clients {
		// The bare and naive servers have no health service: skip the client-side
		// check for every server. No retries: a refused call is an error here.
		client, err := inferencev1.NewInferenceServiceConn(addr, inferencev1.WithInsecure(), inferencev1.WithoutHealthCheck(), inferencev1.WithoutRetry())
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		clients[i] = client
	}
	if mode == "ready" {
		req := &inferencev1.GetModelReadyRequest{ModelName: "bench"}
		return func(ctx context.Context, i int) error {
			_, err := clients[i].GetModelReady(ctx, req)
			return err
		}, closeAll, nil
	}
	req := &inferencev1.PredictRequest{
		ModelName:   spec.model,
		Inputs:      []*inferencev1.Tensor{{Name: spec.input, Datatype: inferencev1.DataType_DATA_TYPE_FP32, Shape: spec.shape, RawData: spec.data}},
		OutputNames: []string{spec.output},
	}
	return func(ctx context.Context, i int) error {
		resp, err := clients[i].Predict(ctx, req)
		if err != nil {
			return err
		}
		for _, t := range resp.GetOutputs() {
			if t.GetName() == spec.output && len(t.GetRawData()) == spec.outBytes {
				return nil
			}
		}
		return fmt.Errorf("answer lacks %d bytes of output %q", spec.outBytes, spec.output)
	}, closeAll, nil
}

func kserveCalls(addr string, conns int, spec tensorSpec) (call, func(), error) {
	clients := make([]kservev2.GRPCInferenceServiceClient, conns)
	opened := make([]*grpc.ClientConn, 0, conns)
	closeAll := func() {
		for _, c := range opened {
			c.Close()
		}
	}
	for i := range clients {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		opened = append(opened, conn)
		clients[i] = kservev2.NewGRPCInferenceServiceClient(conn)
	}
	req := &kservev2.ModelInferRequest{
		ModelName:        spec.model,
		Inputs:           []*kservev2.ModelInferRequest_InferInputTensor{{Name: spec.input, Datatype: "FP32", Shape: spec.shape}},
		Outputs:          []*kservev2.ModelInferRequest_InferRequestedOutputTensor{{Name: spec.output}},
		RawInputContents: [][]byte{spec.data},
	}
	return func(ctx context.Context, i int) error {
		resp, err := clients[i].ModelInfer(ctx, req)
		if err != nil {
			return err
		}
		for j, t := range resp.GetOutputs() {
			if t.GetName() == spec.output && j < len(resp.GetRawOutputContents()) && len(resp.GetRawOutputContents()[j]) == spec.outBytes {
				return nil
			}
		}
		return fmt.Errorf("answer lacks %d bytes of output %q", spec.outBytes, spec.output)
	}, closeAll, nil
}

// drive runs the closed loop and measures after the warm-up.
func drive(do call, concurrency, conns int, warmup, duration time.Duration) result {
	var failures atomic.Int64
	var firstError atomic.Value
	var measuring atomic.Bool
	stop := make(chan struct{})
	latencies := make([][]time.Duration, concurrency)
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				err := do(context.Background(), w%conns)
				took := time.Since(start)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					failures.Add(1)
					firstError.CompareAndSwap(nil, err.Error())
					continue
				}
				latencies[w] = append(latencies[w], took)
			}
		}()
	}
	time.Sleep(warmup)
	measuring.Store(true)
	began := time.Now()
	time.Sleep(duration)
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
	out := result{Concurrency: concurrency, Conns: conns, Calls: len(all), Errors: failures.Load(), QPS: float64(len(all)) / elapsed.Seconds(), P50Ms: quantile(0.50), P99Ms: quantile(0.99)}
	if msg, ok := firstError.Load().(string); ok {
		out.FirstError = msg
	}
	return out
}
