// Tests of the generated typed Go client against a Python server built from
// the generated Python stubs (python_server.py), over real loopback gRPC.
package interop

import (
	"bufio"
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	inferencev1 "github.com/fleet-platform/contracts/generated/go/fleet/inference/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
)

// How long a server gets to report its port, and to exit once asked.
const (
	serverStartTimeout = 30 * time.Second
	// A stop is a closed stdin and a grpc stop without grace: well under a second
	// alone, a few seconds on a loaded 2-core CI machine; a hung server is killed.
	serverStopTimeout = 10 * time.Second
)

// pyServer is one python_server.py process, in its own process group so that
// stopping it also stops anything it started.
type pyServer struct {
	addr   string
	cmd    *exec.Cmd
	stdin  io.Closer
	cancel context.CancelFunc
	done   chan error // the result of cmd.Wait, once
}

// launchServer starts python_server.py and waits (bounded) for its port.
// The test's cleanup stops it: stdin closed, then SIGKILL to its process
// group if it has not exited within serverStopTimeout.
func launchServer(t *testing.T, args ...string) *pyServer {
	t.Helper()
	python := os.Getenv("INTEROP_PYTHON")
	if python == "" {
		python = filepath.Join("..", "..", ".venv", "bin", "python")
	}
	// The context ends the server at the latest when the test binary would
	// be killed for running too long.
	lifetime := 10 * time.Minute
	if deadline, ok := t.Deadline(); ok {
		lifetime = time.Until(deadline)
	}
	ctx, cancel := context.WithTimeout(context.Background(), lifetime)
	cmd := exec.CommandContext(ctx, python, append([]string{"python_server.py"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = serverStopTimeout
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
		cancel()
		t.Fatalf("start %s: %v (set INTEROP_PYTHON to the venv's python)", python, err)
	}
	srv := &pyServer{cmd: cmd, stdin: stdin, cancel: cancel, done: make(chan error, 1)}
	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		port <- line
		// Wait closes stdout; read nothing more from it before.
		srv.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if killed, err := srv.stop(); killed {
			t.Errorf("python server %v did not exit within %s of its stdin closing and was killed", args, serverStopTimeout)
		} else if err != nil {
			t.Errorf("python server %v: %v", args, err)
		}
	})
	select {
	case line := <-port:
		if !strings.HasPrefix(line, "PORT ") {
			t.Fatalf("python server did not report its port: %q", line)
		}
		srv.addr = "127.0.0.1:" + strings.TrimSpace(strings.TrimPrefix(line, "PORT "))
	case <-time.After(serverStartTimeout):
		t.Fatalf("python server %v did not report its port within %s", args, serverStartTimeout)
	}
	return srv
}

// stop asks the server to exit by closing its stdin and kills its process
// group if it has not within serverStopTimeout. It reports whether it had to
// kill, and the process's exit error otherwise. Calling it again is a no-op.
func (s *pyServer) stop() (killed bool, err error) {
	if s.done == nil {
		return false, nil
	}
	defer func() { s.done = nil }()
	s.stdin.Close()
	select {
	case err = <-s.done:
	case <-time.After(serverStopTimeout):
		killed = true
		s.cancel() // cmd.Cancel: SIGKILL to the whole group
		<-s.done
	}
	s.cancel()
	return killed, err
}

// startServer launches python_server.py and returns its address.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	return launchServer(t, args...).addr
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
	client := dial(t, addr, inferencev1.WithCallTimeout(200*time.Millisecond), inferencev1.WithServerStreamTimeout(300*time.Millisecond))
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

const inferenceService = "fleet.inference.v1.InferenceService"

func TestDefaultHealthCheckAsksForOverallHealth(t *testing.T) {
	// grpc-go's health.NewServer and grpc_health_probe know only "": such a
	// server must be reachable with the defaults.
	addr := startServer(t, "--health", "=SERVING")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ready, err := dial(t, addr).GetModelReady(ctx, &inferencev1.GetModelReadyRequest{ModelName: "echo"})
	if err != nil || !ready.GetReady() {
		t.Fatalf("a server whose overall health is SERVING should take calls: %v, %v", ready, err)
	}
	// Asking for the service's own name, which this server does not know,
	// keeps calls off it (SERVICE_UNKNOWN).
	_, err = dial(t, addr, inferencev1.WithHealthCheckService(inferenceService)).GetModelReady(ctx, &inferencev1.GetModelReadyRequest{ModelName: "echo"})
	wantCode(t, err, codes.Unavailable)
}

func TestHealthCheckKeepsCallsOffNotServingServer(t *testing.T) {
	// The server as a whole is NOT_SERVING, whatever it says of the service.
	addr := startServer(t, "--health", "=NOT_SERVING", "--health", inferenceService+"=SERVING")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := dial(t, addr).GetModelReady(ctx, &inferencev1.GetModelReadyRequest{ModelName: "echo"})
	wantCode(t, err, codes.Unavailable)

	ready, err := dial(t, addr, inferencev1.WithHealthCheckService(inferenceService)).GetModelReady(ctx, &inferencev1.GetModelReadyRequest{ModelName: "echo"})
	if err != nil || !ready.GetReady() {
		t.Fatalf("checking the service's own SERVING name should reach the server: %v, %v", ready, err)
	}
	ready, err = dial(t, addr, inferencev1.WithoutHealthCheck()).GetModelReady(ctx, &inferencev1.GetModelReadyRequest{ModelName: "echo"})
	if err != nil || !ready.GetReady() {
		t.Fatalf("without health checking the call should reach the server: %v, %v", ready, err)
	}
}

// deadlineReporter is a grpc-go server that answers every stream with a
// header saying whether the call arrived with a deadline.
func deadlineReporter(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		value := "none"
		if deadline, ok := stream.Context().Deadline(); ok {
			value = time.Until(deadline).Round(time.Minute).String()
		}
		return stream.SendHeader(metadata.Pairs("deadline", value))
	}))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestDefaultDeadlinePerStreamKind(t *testing.T) {
	addr := deadlineReporter(t)
	kinds := []struct {
		name string
		desc grpc.StreamDesc
	}{
		{"server-streaming", grpc.StreamDesc{ServerStreams: true}},
		{"client-streaming", grpc.StreamDesc{ClientStreams: true}},
		{"bidi", grpc.StreamDesc{ClientStreams: true, ServerStreams: true}},
	}
	deadlines := func(opts ...inferencev1.ClientOption) map[string]string {
		conn := dial(t, addr, append(opts, inferencev1.WithoutHealthCheck())...).ClientConn()
		got := map[string]string{}
		for _, kind := range kinds {
			ctx, cancel := context.WithCancel(context.Background())
			stream, err := conn.NewStream(ctx, &kind.desc, "/test.Kinds/Call")
			if err != nil {
				t.Fatal(err)
			}
			header, err := stream.Header()
			if err != nil {
				t.Fatal(err)
			}
			got[kind.name] = strings.Join(header.Get("deadline"), ",")
			cancel()
		}
		return got
	}
	// Long-lived sessions (bidi) and uploads (client-streaming) have no
	// default deadline; a server stream answering one request has 5 minutes.
	want := map[string]string{"server-streaming": "5m0s", "client-streaming": "none", "bidi": "none"}
	if got := deadlines(); !maps.Equal(got, want) {
		t.Fatalf("default deadlines %v, want %v", got, want)
	}
	want = map[string]string{"server-streaming": "none", "client-streaming": "2m0s", "bidi": "3m0s"}
	got := deadlines(inferencev1.WithServerStreamTimeout(0), inferencev1.WithClientStreamTimeout(2*time.Minute), inferencev1.WithBidiStreamTimeout(3*time.Minute))
	if !maps.Equal(got, want) {
		t.Fatalf("configured deadlines %v, want %v", got, want)
	}
}

func TestHungServerIsKilledWithinSeconds(t *testing.T) {
	// This server ignores SIGTERM and the end of its stdin.
	srv := launchServer(t, "--ignore-shutdown")
	pid := srv.cmd.Process.Pid
	start := time.Now()
	killed, _ := srv.stop()
	if elapsed := time.Since(start); !killed || elapsed > serverStopTimeout+5*time.Second {
		t.Fatalf("stop of a hung server: killed=%v after %s", killed, elapsed)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process %d still exists after stop: %v", pid, err)
	}
}

func TestRoundRobinSpreadsCallsOverAddresses(t *testing.T) {
	r := manual.NewBuilderWithScheme("fleettest")
	r.InitialState(resolver.State{Addresses: []resolver.Address{
		{Addr: startServer(t, "--name", "a")},
		{Addr: startServer(t, "--name", "b")},
	}})
	client := dial(t, "fleettest:///inference", inferencev1.WithDialOptions(grpc.WithResolvers(r)))
	// round_robin picks among the addresses whose health check has passed,
	// so the second may join a little after the first: call until both
	// answered, for a bounded time.
	seen := map[string]int{}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && (seen["a"] == 0 || seen["b"] == 0); {
		meta, err := client.GetModelMetadata(context.Background(), &inferencev1.GetModelMetadataRequest{ModelName: "echo"})
		if err != nil {
			t.Fatal(err)
		}
		seen[meta.GetPlatform()]++
		time.Sleep(10 * time.Millisecond)
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
