// Command inference_go is the Go side of tests/test_inference_service.py: the
// generated Go client (generated/go, its default options plus WithInsecure)
// calling the flagship inference server of services/inference, which the test
// starts on the demo models and the test-only `slow` model. Each subcommand
// makes its calls, bounded, and prints one JSON object the test asserts on.
//
//	inference_go calls    -addr HOST:PORT
//	inference_go deadline -addr HOST:PORT -metrics-port N
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	inferencev1 "github.com/fleet-platform/contracts/generated/go/fleet/inference/v1"
	"google.golang.org/grpc/status"
)

// callTimeout bounds every call that is not about deadlines.
const callTimeout = 30 * time.Second

type outcome struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func outcomeOf(err error) outcome {
	st := status.Convert(err)
	return outcome{Code: st.Code().String(), Message: st.Message()}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "inference_go:", err)
	os.Exit(2)
}

func emit(v any) {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		fail(err)
	}
}

func dial(addr string) *inferencev1.InferenceServiceConn {
	client, err := inferencev1.NewInferenceServiceConn(addr, inferencev1.WithInsecure(), inferencev1.WithoutRetry())
	if err != nil {
		fail(err)
	}
	return client
}

// fp32 packs values as the contract's raw_data: little-endian IEEE 754.
func fp32(values []float32) []byte {
	out := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return out
}

// image is one 3x32x32 FP32 image (a batch of 1), every pixel `fill`.
func image(fill float32) *inferencev1.Tensor {
	values := make([]float32, 3*32*32)
	for i := range values {
		values[i] = fill
	}
	return &inferencev1.Tensor{Name: "image", Datatype: inferencev1.DataType_DATA_TYPE_FP32, Shape: []int64{1, 3, 32, 32}, RawData: fp32(values)}
}

func classify(id string, tensor *inferencev1.Tensor) *inferencev1.PredictRequest {
	return &inferencev1.PredictRequest{ModelName: "classifier", RequestId: id, Inputs: []*inferencev1.Tensor{tensor}}
}

func bounded() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// calls: predict, batch predict with one bad item, a stream to its final
// piece, an invalid tensor, an unknown model, model metadata.
func calls(args []string) {
	fs := flag.NewFlagSet("calls", flag.ExitOnError)
	addr := fs.String("addr", "", "server address")
	_ = fs.Parse(args)
	client := dial(*addr)
	defer client.Close()
	result := map[string]any{}

	ctx, cancel := bounded()
	resp, err := client.Predict(ctx, classify("p-1", image(0.5)))
	cancel()
	predict := map[string]any{"status": outcomeOf(err), "model_version": resp.GetModelVersion(), "request_id": resp.GetRequestId()}
	if outs := resp.GetOutputs(); len(outs) == 1 {
		predict["output"] = map[string]any{"name": outs[0].GetName(), "datatype": outs[0].GetDatatype().String(), "shape": outs[0].GetShape(), "bytes": len(outs[0].GetRawData())}
	}
	result["predict"] = predict

	bad := image(0.5)
	bad.Shape = []int64{1, 3, 32, 31}
	ctx, cancel = bounded()
	batch, err := client.BatchPredict(ctx, &inferencev1.BatchPredictRequest{Requests: []*inferencev1.PredictRequest{
		classify("b-0", image(0.1)), classify("b-1", bad), classify("b-2", image(0.9)),
	}})
	cancel()
	var items []map[string]any
	for _, r := range batch.GetResults() {
		if e := r.GetError(); e != nil {
			items = append(items, map[string]any{"error_code": e.GetCode(), "error": e.GetMessage()})
		} else {
			items = append(items, map[string]any{"request_id": r.GetResponse().GetRequestId(), "outputs": len(r.GetResponse().GetOutputs())})
		}
	}
	result["batch"] = map[string]any{"status": outcomeOf(err), "items": items}

	prompt := []byte("fleet")
	ids := make([]byte, 8*len(prompt))
	for i, b := range prompt {
		binary.LittleEndian.PutUint64(ids[8*i:], uint64(b))
	}
	ctx, cancel = bounded()
	stream, err := client.PredictStream(ctx, &inferencev1.PredictStreamRequest{Request: &inferencev1.PredictRequest{
		ModelName: "textgen", RequestId: "s-1",
		Inputs:     []*inferencev1.Tensor{{Name: "prompt", Datatype: inferencev1.DataType_DATA_TYPE_INT64, Shape: []int64{int64(len(prompt))}, RawData: ids}},
		Parameters: map[string]*inferencev1.Parameter{"max_tokens": {Value: &inferencev1.Parameter_Int64Value{Int64Value: 8}}},
	}})
	type piece struct {
		Sequence uint32 `json:"sequence"`
		Final    bool   `json:"final"`
		Tokens   int    `json:"tokens"`
	}
	var pieces []piece
	end := outcome{Code: "OK"}
	if err != nil {
		end = outcomeOf(err)
	}
	for err == nil {
		var msg *inferencev1.PredictStreamResponse
		msg, err = stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			end = outcomeOf(err)
			break
		}
		tokens := 0
		for _, out := range msg.GetResponse().GetOutputs() {
			tokens += len(out.GetRawData()) / 8
		}
		pieces = append(pieces, piece{msg.GetSequenceNumber(), msg.GetFinal(), tokens})
	}
	cancel()
	result["stream"] = map[string]any{"status": end, "pieces": pieces}

	wrong := image(0.5)
	wrong.Datatype = inferencev1.DataType_DATA_TYPE_FP64
	ctx, cancel = bounded()
	_, err = client.Predict(ctx, classify("i-1", wrong))
	cancel()
	result["invalid"] = outcomeOf(err)

	ctx, cancel = bounded()
	_, err = client.Predict(ctx, &inferencev1.PredictRequest{ModelName: "no-such-model", Inputs: []*inferencev1.Tensor{image(0)}})
	cancel()
	result["unknown"] = outcomeOf(err)

	ctx, cancel = bounded()
	meta, err := client.GetModelMetadata(ctx, &inferencev1.GetModelMetadataRequest{ModelName: "classifier"})
	cancel()
	result["metadata"] = map[string]any{"status": outcomeOf(err), "platform": meta.GetPlatform(), "device": meta.GetDevice(), "versions": meta.GetVersions()}
	emit(result)
}

// metric reads the first sample of `name` whose labels include `label`, such
// as model="slow", from the server's /metrics (0 when absent).
func metric(port int, name, label string) float64 {
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics")
	if err != nil {
		fail(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		line := lines.Text()
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, label) {
			fields := strings.Fields(line)
			value, err := strconv.ParseFloat(fields[len(fields)-1], 64)
			if err != nil {
				fail(err)
			}
			return value
		}
	}
	return 0
}

// deadline: one call occupies the slow model (one item per forward pass);
// once it is running, a second call with a deadline shorter than the first
// call's remaining time waits in the queue and gets DEADLINE_EXCEEDED. The
// model's inference count, read after both ended, says whether the second
// ever reached the model.
func deadline(args []string) {
	fs := flag.NewFlagSet("deadline", flag.ExitOnError)
	addr := fs.String("addr", "", "server address")
	metricsPort := fs.Int("metrics-port", 0, "the server's metrics port")
	short := fs.Duration("deadline", 150*time.Millisecond, "the queued call's deadline")
	_ = fs.Parse(args)
	client := dial(*addr)
	defer client.Close()
	x := &inferencev1.Tensor{Name: "x", Datatype: inferencev1.DataType_DATA_TYPE_FP32, Shape: []int64{1, 4}, RawData: fp32([]float32{1, 2, 3, 4})}
	slow := func(id string) *inferencev1.PredictRequest {
		return &inferencev1.PredictRequest{ModelName: "slow", RequestId: id, Inputs: []*inferencev1.Tensor{x}}
	}
	before := metric(*metricsPort, "inference_count_total", `model="slow"`)

	var wg sync.WaitGroup
	var first outcome
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx, cancel := bounded()
		defer cancel()
		_, err := client.Predict(ctx, slow("first"))
		first = outcomeOf(err)
	}()
	// The first call is in the model once it is in flight and nothing is queued.
	limit := time.Now().Add(callTimeout)
	for metric(*metricsPort, "grpc_server_in_flight_requests", `grpc_method="Predict"`) == 0 ||
		metric(*metricsPort, "inference_pending_request_count", `model="slow"`) != 0 {
		if time.Now().After(limit) {
			fail(errors.New("the first call never started"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// In flight with an empty queue: the first call is queued and taken, or a
	// moment from being queued; let it reach the model (500 ms per pass).
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), *short)
	started := time.Now()
	_, err := client.Predict(ctx, slow("queued"))
	elapsed := time.Since(started)
	cancel()
	queued := outcomeOf(err)
	wg.Wait()
	emit(map[string]any{
		"first":          first,
		"queued":         queued,
		"queued_elapsed": elapsed.Seconds(),
		"inferences":     metric(*metricsPort, "inference_count_total", `model="slow"`) - before,
	})
}

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: inference_go calls|deadline [flags]"))
	}
	switch os.Args[1] {
	case "calls":
		calls(os.Args[2:])
	case "deadline":
		deadline(os.Args[2:])
	default:
		fail(fmt.Errorf("unknown subcommand %q", os.Args[1]))
	}
}
