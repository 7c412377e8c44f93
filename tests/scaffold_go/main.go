// Command scaffold_go is the Go side of tests/test_scaffold_go_client.py: the
// generated Go client (generated/go) calling a service that `contracts new
// service` scaffolded for fleet.inference.v1.InferenceService, whose Predict
// and PredictStream handlers the test filled in. The test starts the service;
// each subcommand makes its calls, bounded, and prints one JSON object that
// the test asserts on.
//
//	scaffold_go calls -addr HOST:PORT
//	scaffold_go idle  -addr HOST:PORT -idle 50s -keepalive 10s -keepalive-timeout 3s
//	scaffold_go drain -addr HOST:PORT -pid PID -metrics-port N -calls 3 -sleep 3s
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	inferencev1 "github.com/fleet-platform/contracts/generated/go/fleet/inference/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// outcome is one call's end: its status code name and message.
type outcome struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func outcomeOf(err error) outcome {
	st := status.Convert(err)
	return outcome{Code: st.Code().String(), Message: st.Message()}
}

func param(v int64) *inferencev1.Parameter {
	return &inferencev1.Parameter{Value: &inferencev1.Parameter_Int64Value{Int64Value: v}}
}

// request asks the filled-in handlers for pieces (PredictStream), a gap
// between pieces and a sleep before answering (Predict), all in milliseconds.
func request(id string, params map[string]int64) *inferencev1.PredictRequest {
	req := &inferencev1.PredictRequest{ModelName: "echo", RequestId: id, Parameters: map[string]*inferencev1.Parameter{}}
	for k, v := range params {
		req.Parameters[k] = param(v)
	}
	return req
}

func dial(addr string, opts ...inferencev1.ClientOption) *inferencev1.InferenceServiceConn {
	client, err := inferencev1.NewInferenceServiceConn(addr, append([]inferencev1.ClientOption{inferencev1.WithInsecure()}, opts...)...)
	if err != nil {
		fail(err)
	}
	return client
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scaffold_go:", err)
	os.Exit(2)
}

func emit(v any) {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		fail(err)
	}
}

// piece is one received PredictStreamResponse, with its arrival in seconds
// since the call started.
type piece struct {
	Sequence  uint32  `json:"sequence"`
	Final     bool    `json:"final"`
	RequestID string  `json:"request_id"`
	At        float64 `json:"at"`
}

// readStream receives every piece of a server stream until its end.
func readStream(stream grpc.ServerStreamingClient[inferencev1.PredictStreamResponse], start time.Time) ([]piece, outcome) {
	var got []piece
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return got, outcome{Code: "OK"}
		}
		if err != nil {
			return got, outcomeOf(err)
		}
		got = append(got, piece{msg.GetSequenceNumber(), msg.GetFinal(), msg.GetResponse().GetRequestId(), time.Since(start).Seconds()})
	}
}

// calls: one unary and one server-streaming call answered by the filled-in
// handlers, and one RPC left as the scaffold wrote it.
func calls(args []string) {
	fs := flag.NewFlagSet("calls", flag.ExitOnError)
	addr := fs.String("addr", "", "service address")
	_ = fs.Parse(args)
	client := dial(*addr) // the defaults: retries, health check on "", keepalive, deadlines
	defer client.Close()
	ctx := context.Background()
	result := map[string]any{}

	resp, err := client.Predict(ctx, request("unary-1", nil))
	result["predict"] = map[string]any{
		"status":        outcomeOf(err),
		"model_name":    resp.GetModelName(),
		"model_version": resp.GetModelVersion(),
		"request_id":    resp.GetRequestId(),
		"outputs":       len(resp.GetOutputs()),
	}
	if len(resp.GetOutputs()) > 0 {
		out := resp.GetOutputs()[0]
		result["predict_output"] = map[string]any{"name": out.GetName(), "datatype": out.GetDatatype().String(), "shape": out.GetShape()}
	}

	start := time.Now()
	stream, err := client.PredictStream(ctx, &inferencev1.PredictStreamRequest{Request: request("stream-1", map[string]int64{"pieces": 4})})
	if err != nil {
		result["stream"] = map[string]any{"status": outcomeOf(err)}
	} else {
		pieces, end := readStream(stream, start)
		result["stream"] = map[string]any{"status": end, "pieces": pieces}
	}

	_, err = client.GetModelReady(ctx, &inferencev1.GetModelReadyRequest{ModelName: "echo"})
	result["get_model_ready"] = outcomeOf(err)
	emit(result)
}

// idle: one server stream that sends a piece, stays silent for -idle, then
// sends the last piece; the client pings every -keepalive meanwhile.
func idle(args []string) {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	addr := fs.String("addr", "", "service address")
	idleFor := fs.Duration("idle", 50*time.Second, "silence between the two pieces")
	every := fs.Duration("keepalive", inferencev1.DefaultKeepaliveTime, "client keepalive ping interval")
	timeout := fs.Duration("keepalive-timeout", inferencev1.DefaultKeepaliveTimeout, "client keepalive ping timeout")
	_ = fs.Parse(args)
	client := dial(*addr, inferencev1.WithKeepalive(keepalive.ClientParameters{Time: *every, Timeout: *timeout}))
	defer client.Close()
	start := time.Now()
	stream, err := client.PredictStream(context.Background(), &inferencev1.PredictStreamRequest{
		Request: request("idle-1", map[string]int64{"pieces": 2, "gap_ms": idleFor.Milliseconds()}),
	})
	if err != nil {
		emit(map[string]any{"status": outcomeOf(err)})
		return
	}
	pieces, end := readStream(stream, start)
	emit(map[string]any{"status": end, "pieces": pieces, "elapsed": time.Since(start).Seconds()})
}

// inFlight reads the runtime's in-flight gauge for Predict from /metrics.
func inFlight(metricsPort int) (float64, error) {
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		line := lines.Text()
		if strings.HasPrefix(line, "grpc_server_in_flight_requests{") && strings.Contains(line, `grpc_method="Predict"`) {
			fields := strings.Fields(line)
			return strconv.ParseFloat(fields[len(fields)-1], 64)
		}
	}
	return 0, lines.Err()
}

func waitUntil(what string, limit time.Duration, check func() bool) {
	deadline := time.Now().Add(limit)
	for !check() {
		if time.Now().After(deadline) {
			fail(fmt.Errorf("%s: not within %s", what, limit))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drain: -calls slow Predict calls are accepted (the server's in-flight gauge
// shows them), then the service gets SIGTERM; during the drain the overall
// health is NOT_SERVING and new calls are refused; the accepted calls end.
func drain(args []string) {
	fs := flag.NewFlagSet("drain", flag.ExitOnError)
	addr := fs.String("addr", "", "service address")
	pid := fs.Int("pid", 0, "the service's process id, to signal")
	metricsPort := fs.Int("metrics-port", 0, "the service's metrics port")
	n := fs.Int("calls", 3, "slow calls in flight at the signal")
	sleep := fs.Duration("sleep", 3*time.Second, "how long each slow call takes")
	_ = fs.Parse(args)
	client := dial(*addr)
	defer client.Close()

	type answer struct {
		Status    outcome `json:"status"`
		RequestID string  `json:"request_id"`
		EndedAt   float64 `json:"ended_at"` // seconds after the signal
	}
	answers := make([]answer, *n)
	ended := make([]time.Time, *n)
	var wg sync.WaitGroup
	for i := range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Predict(context.Background(), request(fmt.Sprintf("accepted-%d", i), map[string]int64{"sleep_ms": sleep.Milliseconds()}))
			ended[i] = time.Now()
			answers[i] = answer{Status: outcomeOf(err), RequestID: resp.GetRequestId()}
		}()
	}
	waitUntil("calls in flight", 20*time.Second, func() bool {
		v, err := inFlight(*metricsPort)
		return err == nil && v == float64(*n)
	})
	signalled := time.Now()
	if err := syscall.Kill(*pid, syscall.SIGTERM); err != nil {
		fail(err)
	}

	// The probe's view: a plain connection asking the overall health.
	probeConn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer probeConn.Close()
	health := healthpb.NewHealthClient(probeConn)
	var healthDuringDrain string
	waitUntil("health NOT_SERVING", 5*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: ""})
		if err == nil {
			healthDuringDrain = resp.GetStatus().String()
		}
		return healthDuringDrain == healthpb.HealthCheckResponse_NOT_SERVING.String()
	})

	// A new call with the defaults, and one that skips the client-side health
	// check so that the server itself must refuse it.
	late := dial(*addr)
	defer late.Close()
	_, errDefault := late.Predict(context.Background(), request("late-default", nil))
	direct := dial(*addr, inferencev1.WithoutHealthCheck())
	defer direct.Close()
	_, errDirect := direct.Predict(context.Background(), request("late-direct", nil))
	refusedAt := time.Since(signalled).Seconds()

	wg.Wait()
	for i := range answers {
		answers[i].EndedAt = ended[i].Sub(signalled).Seconds()
	}
	emit(map[string]any{
		"accepted":           answers,
		"health_during":      healthDuringDrain,
		"late_default":       outcomeOf(errDefault),
		"late_direct":        outcomeOf(errDirect),
		"refused_at":         refusedAt,
		"signalled_unix_sec": float64(signalled.UnixNano()) / 1e9,
	})
}

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: scaffold_go calls|idle|drain [flags]"))
	}
	switch os.Args[1] {
	case "calls":
		calls(os.Args[2:])
	case "idle":
		idle(os.Args[2:])
	case "drain":
		drain(os.Args[2:])
	default:
		fail(fmt.Errorf("unknown subcommand %q", os.Args[1]))
	}
}
