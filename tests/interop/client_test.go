// Tests of the generated typed Go client against a Python server built from
// the generated Python stubs (python_server.py), over real loopback gRPC.
package interop

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	inferencev1 "github.com/fleet-platform/contracts/generated/go/fleet/inference/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
)

// startServer runs python_server.py and returns its address; the server
// exits when the test ends and closes its stdin.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	python := os.Getenv("INTEROP_PYTHON")
	if python == "" {
		python = filepath.Join("..", "..", ".venv", "bin", "python")
	}
	cmd := exec.Command(python, append([]string{"python_server.py"}, args...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v (set INTEROP_PYTHON to the venv's python)", python, err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("python server: %v", err)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "PORT ") {
		t.Fatalf("python server did not report its port: %q, %v", line, err)
	}
	return "127.0.0.1:" + strings.TrimSpace(strings.TrimPrefix(line, "PORT "))
}

func dial(t *testing.T, target string, opts ...inferencev1.ClientOption) *inferencev1.InferenceServiceConn {
	t.Helper()
	client, err := inferencev1.NewInferenceServiceConn(target, append([]inferencev1.ClientOption{inferencev1.WithInsecure()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func intParam(v int64) *inferencev1.Parameter {
	return &inferencev1.Parameter{Value: &inferencev1.Parameter_Int64Value{Int64Value: v}}
}

func request(model string, params map[string]int64) *inferencev1.PredictRequest {
	req := &inferencev1.PredictRequest{ModelName: model, RequestId: "req-" + model, Parameters: map[string]*inferencev1.Parameter{}}
	for k, v := range params {
		req.Parameters[k] = intParam(v)
	}
	return req
}

func wantCode(t *testing.T, err error, want codes.Code) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != want {
		t.Fatalf("got error %v, want status %s", err, want)
	}
	return st
}

func TestUnaryKeepsInt64AndBytesExact(t *testing.T) {
	client := dial(t, startServer(t))
	// 2^53+1 does not survive a float64 (JSON numbers in many parsers); protobuf keeps it.
	const big = int64(1)<<53 + 1
	req := request("echo", nil)
	req.Inputs = []*inferencev1.Tensor{{
		Name: "x", Datatype: inferencev1.DataType_DATA_TYPE_INT64,
		Shape: []int64{big, -1}, RawData: []byte{0, 1, 2, 255},
	}}
	resp, err := client.Predict(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	out := resp.GetOutputs()
	if resp.GetRequestId() != "req-echo" || len(out) != 1 || out[0].GetName() != "x_out" {
		t.Fatalf("unexpected response %v", resp)
	}
	if out[0].GetShape()[0] != big || out[0].GetShape()[1] != -1 || string(out[0].GetRawData()) != "\x00\x01\x02\xff" {
		t.Fatalf("tensor changed on the way: %v", out[0])
	}
	if out[0].GetDatatype() != inferencev1.DataType_DATA_TYPE_INT64 {
		t.Fatalf("enum changed on the way: %v", out[0].GetDatatype())
	}
}

func TestServerStreamingDeliversEveryPieceThenEOF(t *testing.T) {
	client := dial(t, startServer(t))
	stream, err := client.PredictStream(context.Background(), &inferencev1.PredictStreamRequest{Request: request("echo", map[string]int64{"pieces": 5})})
	if err != nil {
		t.Fatal(err)
	}
	var got []uint32
	for {
		piece, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if piece.GetFinal() != (piece.GetSequenceNumber() == 4) {
			t.Fatalf("final flag on piece %d: %v", piece.GetSequenceNumber(), piece.GetFinal())
		}
		got = append(got, piece.GetSequenceNumber())
	}
	if len(got) != 5 || got[0] != 0 || got[4] != 4 {
		t.Fatalf("sequence numbers %v, want 0..4", got)
	}
}

func TestServerStreamingErrorStatus(t *testing.T) {
	client := dial(t, startServer(t))
	stream, err := client.PredictStream(context.Background(), &inferencev1.PredictStreamRequest{Request: request("missing", nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	st := wantCode(t, err, codes.NotFound)
	if !strings.Contains(st.Message(), "'missing'") {
		t.Fatalf("message %q does not name the model", st.Message())
	}
}

func TestErrorStatusesMapThrough(t *testing.T) {
	client := dial(t, startServer(t))
	_, err := client.Predict(context.Background(), request("missing", nil))
	st := wantCode(t, err, codes.NotFound)
	if st.Message() != "model 'missing' is not loaded" {
		t.Fatalf("message %q", st.Message())
	}
	_, err = client.BatchPredict(context.Background(), &inferencev1.BatchPredictRequest{})
	wantCode(t, err, codes.InvalidArgument)

	// Per-item failures travel inside the response, not as a status.
	batch, err := client.BatchPredict(context.Background(), &inferencev1.BatchPredictRequest{
		Requests: []*inferencev1.PredictRequest{request("echo", nil), request("missing", nil)},
	})
	if err != nil {
		t.Fatal(err)
	}
	results := batch.GetResults()
	if len(results) != 2 || results[0].GetResponse() == nil || codes.Code(results[1].GetError().GetCode()) != codes.NotFound {
		t.Fatalf("batch results %v", results)
	}
}

func TestCallerDeadlineWins(t *testing.T) {
	client := dial(t, startServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.Predict(ctx, request("slow", map[string]int64{"sleep_ms": 3000}))
	wantCode(t, err, codes.DeadlineExceeded)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("deadline ignored: call took %s", elapsed)
	}
}

func TestDefaultDeadlineAppliesWhenCallerHasNone(t *testing.T) {
	addr := startServer(t)
	client := dial(t, addr, inferencev1.WithCallTimeout(200*time.Millisecond), inferencev1.WithStreamTimeout(300*time.Millisecond))
	start := time.Now()
	_, err := client.Predict(context.Background(), request("slow", map[string]int64{"sleep_ms": 3000}))
	wantCode(t, err, codes.DeadlineExceeded)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("default deadline not applied: call took %s", elapsed)
	}
	stream, err := client.PredictStream(context.Background(), &inferencev1.PredictStreamRequest{Request: request("slow", map[string]int64{"sleep_ms": 3000, "pieces": 1})})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	wantCode(t, err, codes.DeadlineExceeded)

	// A longer deadline of the caller's own is kept, not cut to the default.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.Predict(ctx, request("slow", map[string]int64{"sleep_ms": 500})); err != nil {
		t.Fatalf("caller's 5 s deadline was overridden: %v", err)
	}
}

func TestUnavailableIsRetried(t *testing.T) {
	addr := startServer(t)
	req := request("flaky", map[string]int64{"fail_times": 2})
	req.RequestId = "retried"
	if _, err := dial(t, addr).Predict(context.Background(), req); err != nil {
		t.Fatalf("two UNAVAILABLE answers then OK should succeed within 4 attempts: %v", err)
	}
	req.RequestId = "not-retried"
	_, err := dial(t, addr, inferencev1.WithoutRetry()).Predict(context.Background(), req)
	wantCode(t, err, codes.Unavailable)
}

func TestHealthCheckKeepsCallsOffNotServingServer(t *testing.T) {
	addr := startServer(t, "--not-serving")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := dial(t, addr).GetModelReady(ctx, &inferencev1.GetModelReadyRequest{ModelName: "echo"})
	wantCode(t, err, codes.Unavailable)

	ready, err := dial(t, addr, inferencev1.WithoutHealthCheck()).GetModelReady(ctx, &inferencev1.GetModelReadyRequest{ModelName: "echo"})
	if err != nil || !ready.GetReady() {
		t.Fatalf("without health checking the call should reach the server: %v, %v", ready, err)
	}
}

func TestRoundRobinSpreadsCallsOverAddresses(t *testing.T) {
	r := manual.NewBuilderWithScheme("fleettest")
	r.InitialState(resolver.State{Addresses: []resolver.Address{
		{Addr: startServer(t, "--name", "a")},
		{Addr: startServer(t, "--name", "b")},
	}})
	client := dial(t, "fleettest:///inference", inferencev1.WithDialOptions(grpc.WithResolvers(r)))
	seen := map[string]int{}
	for i := 0; i < 20; i++ {
		meta, err := client.GetModelMetadata(context.Background(), &inferencev1.GetModelMetadataRequest{ModelName: "echo"})
		if err != nil {
			t.Fatal(err)
		}
		seen[meta.GetPlatform()]++
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("calls per server %v: round_robin should use both", seen)
	}
}

func TestGzipAndMessageSizeLimit(t *testing.T) {
	addr := startServer(t)
	big := request("echo", nil)
	big.Inputs = []*inferencev1.Tensor{{Name: "x", Datatype: inferencev1.DataType_DATA_TYPE_UINT8, Shape: []int64{4096}, RawData: make([]byte, 4096)}}
	resp, err := dial(t, addr, inferencev1.WithGzip()).Predict(context.Background(), big)
	if err != nil || len(resp.GetOutputs()[0].GetRawData()) != 4096 {
		t.Fatalf("gzip call: %v", err)
	}
	_, err = dial(t, addr, inferencev1.WithMaxMessageSize(1024)).Predict(context.Background(), big)
	wantCode(t, err, codes.ResourceExhausted)
}

func TestInvalidRetryPolicyIsRefused(t *testing.T) {
	_, err := inferencev1.NewInferenceServiceConn("127.0.0.1:1", inferencev1.WithRetryPolicy(inferencev1.RetryPolicy{MaxAttempts: 1}))
	if err == nil || !strings.Contains(err.Error(), "MaxAttempts") {
		t.Fatalf("want an error naming MaxAttempts, got %v", err)
	}
}
