package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	tasksv1 "github.com/fleet-platform/contracts/generated/go/fleet/tasks/v1"
	"github.com/fleet-platform/contracts/runtime/go/frames"
	"github.com/fleet-platform/contracts/runtime/go/registry"
)

const (
	protoA   = "syntax = \"proto3\";\npackage t;\nmessage A { string x = 1; }\n"
	protoA2  = "syntax = \"proto3\";\npackage t;\nmessage A { string x = 1; int32 y = 2; }\n"
	protoBad = "syntax = \"proto3\";\npackage t;\nmessage A { int64 x = 1; }\n"
)

var (
	serverOnce sync.Once
	serverURL  string
	serverErr  error
)

// registryURL starts `contracts registry serve` (the repository's .venv, or
// $CONTRACTS_BIN) once for the package's tests, on a free loopback port with a
// fresh store, in its own process group, killed by TestMain.
func registryURL(t *testing.T) string {
	t.Helper()
	serverOnce.Do(func() { serverURL, serverErr = startRegistry() })
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	return serverURL
}

var server *exec.Cmd

func startRegistry() (string, error) {
	bin := os.Getenv("CONTRACTS_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "..", ".venv", "bin", "contracts")
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := listener.Addr().(*net.TCPAddr).Port
	listener.Close()
	store, err := os.MkdirTemp("", "registry-go-test-")
	if err != nil {
		return "", err
	}
	server = exec.Command(bin, "registry", "serve", "--port", fmt.Sprint(port), "--store", filepath.Join(store, "store.db"))
	// Its own process group, killed by TestMain; and killed with the test binary
	// if that dies first (a -timeout panic skips TestMain's cleanup).
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	server.Stderr = os.Stderr
	if err := server.Start(); err != nil {
		return "", fmt.Errorf("start %s (run scripts/setup.sh, or set CONTRACTS_BIN): %w", bin, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			conn.Close()
			return fmt.Sprintf("http://127.0.0.1:%d", port), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("registry not listening on port %d after 30 s", port)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if server != nil && server.Process != nil {
		_ = syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
		_ = server.Wait()
	}
	os.Exit(code)
}

func newClient(t *testing.T, cfg registry.Config) *registry.Client {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = registryURL(t)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	c, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func put(t *testing.T, path, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, registryURL(t)+path, strings.NewReader(body))
	req.Header.Set("Content-Type", registry.ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT %s: %d", path, resp.StatusCode)
	}
}

func TestClientReads(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, registry.Config{})
	first, err := c.Register(ctx, "go-a-value", registry.Schema{Schema: protoA})
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Register(ctx, "go-a-value", registry.Schema{Schema: protoA2})
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Register(ctx, "go-a-value", registry.Schema{Schema: protoA}); again != first {
		t.Fatalf("the same schema got id %d, then %d", first, again)
	}
	if s, err := c.Schema(ctx, first, false); err != nil || s.Schema != protoA {
		t.Fatalf("schema %q, %v", s.Schema, err)
	}
	fd, err := c.FileDescriptor(ctx, first)
	if err != nil || fd.GetPackage() != "t" || fd.GetMessageType()[0].GetName() != "A" {
		t.Fatalf("file %v, %v", fd, err)
	}
	uses, err := c.Uses(ctx, second, false)
	if err != nil || len(uses) != 1 || uses[0].Subject != "go-a-value" || uses[0].Version != 2 {
		t.Fatalf("uses %v, %v", uses, err)
	}
	latest, err := c.Latest(ctx, "go-a-value")
	if err != nil || latest.Version != 2 || latest.ID != second {
		t.Fatalf("latest %v, %v", latest, err)
	}
	if v, err := c.Lookup(ctx, "go-a-value", registry.Schema{Schema: protoA}); err != nil || v.Version != 1 {
		t.Fatalf("lookup %v, %v", v, err)
	}
	if level, err := c.CompatibilityLevel(ctx, "go-a-value"); err != nil || level != "BACKWARD" {
		t.Fatalf("level %q, %v", level, err)
	}
	good, err := c.CheckCompatibility(ctx, "go-a-value", "latest", registry.Schema{Schema: protoA2})
	if err != nil || !good.IsCompatible {
		t.Fatalf("compatible: %v, %v", good, err)
	}
	bad, err := c.CheckCompatibility(ctx, "go-a-value", "1", registry.Schema{Schema: protoBad})
	if err != nil || bad.IsCompatible || !strings.Contains(bad.Messages[0], "FIELD_SCALAR_KIND_CHANGED") {
		t.Fatalf("incompatible: %v, %v", bad, err)
	}
}

func TestCacheBound(t *testing.T) {
	ctx := context.Background()
	seed := newClient(t, registry.Config{})
	var ids []int
	for n := range 4 {
		id, err := seed.Register(ctx, fmt.Sprintf("go-bound-%d-value", n),
			registry.Schema{Schema: strings.ReplaceAll(protoA, "A", fmt.Sprintf("A%d", n))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	c := newClient(t, registry.Config{CacheSize: 2})
	if _, err := c.FileDescriptor(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	sent := c.Requests()
	for range 50 {
		if _, err := c.FileDescriptor(ctx, ids[0]); err != nil {
			t.Fatal(err)
		}
	}
	if c.Requests() != sent {
		t.Fatalf("cached lookups sent %d requests", c.Requests()-sent)
	}
	for _, id := range ids {
		if _, err := c.FileDescriptor(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	sent = c.Requests()
	if _, err := c.FileDescriptor(ctx, ids[0]); err != nil { // evicted: asked again
		t.Fatal(err)
	}
	if c.Requests() != sent+1 {
		t.Fatalf("evicted lookup sent %d requests, want 1", c.Requests()-sent)
	}
	uncached := newClient(t, registry.Config{CacheSize: -1})
	for range 2 {
		if _, err := uncached.Schema(ctx, ids[1], false); err != nil {
			t.Fatal(err)
		}
	}
	if uncached.Requests() != 2 {
		t.Fatalf("uncached client sent %d requests, want 2", uncached.Requests())
	}
}

func TestErrorsNameTheURL(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, registry.Config{})
	var rerr *registry.Error
	_, err := c.Schema(ctx, 987654, false)
	if !errors.Is(err, registry.ErrNotFound) || !errors.As(err, &rerr) || rerr.Code != 40403 ||
		!strings.Contains(err.Error(), "GET "+c.URL()+"/schemas/ids/987654: HTTP 404 (error code 40403)") {
		t.Fatalf("unknown id: %v", err)
	}
	_, err = c.Latest(ctx, "no/such-subject")
	if !errors.As(err, &rerr) || rerr.Code != 40401 || !strings.Contains(err.Error(), "/subjects/no%2Fsuch-subject/versions/latest") {
		t.Fatalf("unknown subject: %v", err)
	}
	_, err = c.Register(ctx, "go-broken-value", registry.Schema{Schema: "message {"})
	if !errors.Is(err, registry.ErrRefused) || !errors.As(err, &rerr) || rerr.Code != 42201 {
		t.Fatalf("invalid schema: %v", err)
	}
	listener, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + listener.Addr().String()
	listener.Close()
	_, err = newClient(t, registry.Config{URL: dead, Timeout: 2 * time.Second}).Schema(ctx, 1, false)
	if !errors.Is(err, registry.ErrUnreachable) || !strings.Contains(err.Error(), dead+"/schemas/ids/1") {
		t.Fatalf("unreachable: %v", err)
	}
	for url, says := range map[string]string{
		"ftp://registry":                   "must be http:// or https://",
		"http://user:secret@registry:8081": "not in the URL",
	} {
		if _, err := registry.New(registry.Config{URL: url}); err == nil || !strings.Contains(err.Error(), says) {
			t.Fatalf("%s: %v", url, err)
		}
	}
}

func TestAuthAndTimeout(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var seen []string
	delay := time.Duration(0)
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		wait := delay
		mu.Unlock()
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", registry.ContentType)
		fmt.Fprint(w, `{"compatibilityLevel": "FULL"}`)
	}))
	defer stub.Close()
	for _, auth := range []registry.Auth{registry.BasicAuth{Username: "svc", Password: "pa:ss"}, registry.BearerAuth{Token: "tok-1"}, nil} {
		if _, err := newClient(t, registry.Config{URL: stub.URL, Auth: auth}).CompatibilityLevel(ctx, "s"); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"Basic c3ZjOnBhOnNz", "Bearer tok-1", ""}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("Authorization headers %q, want %q", seen, want)
	}
	mu.Lock()
	delay = 3 * time.Second
	mu.Unlock()
	started := time.Now()
	_, err := newClient(t, registry.Config{URL: stub.URL, Timeout: 300 * time.Millisecond}).CompatibilityLevel(ctx, "s")
	if !errors.Is(err, registry.ErrUnreachable) || !strings.Contains(err.Error(), "/config/s?defaultToGlobal=true") ||
		!strings.Contains(err.Error(), "within 300ms") || time.Since(started) > 2*time.Second {
		t.Fatalf("timeout after %v: %v", time.Since(started), err)
	}
}

func TestSubjectNames(t *testing.T) {
	name := protoreflect.FullName("fleet.tasks.v1.TaskEnvelope")
	for _, c := range []struct {
		s     registry.Strategy
		topic string
		key   bool
		want  string
	}{
		{registry.TopicName, "tasks", false, "tasks-value"},
		{registry.TopicName, "tasks", true, "tasks-key"},
		{registry.RecordName, "", false, string(name)},
		{registry.TopicRecordName, "tasks", false, "tasks-" + string(name)},
	} {
		if got, err := registry.SubjectName(c.s, c.topic, name, c.key); err != nil || got != c.want {
			t.Fatalf("%v: %q, %v", c, got, err)
		}
	}
	if _, err := registry.SubjectName(registry.TopicName, "", name, false); err == nil || !strings.Contains(err.Error(), "needs a topic") {
		t.Fatal(err)
	}
}

func TestDecodeRefusesAnotherType(t *testing.T) {
	ctx := context.Background()
	f := registry.NewFrames(newClient(t, registry.Config{}), registry.FramesOptions{})
	frame, err := f.Encode(ctx, "go-traces", &tasksv1.TraceContext{Traceparent: "00-ab"})
	if err != nil {
		t.Fatal(err)
	}
	var trace tasksv1.TraceContext
	if err := f.Decode(ctx, "", frame, &trace); err != nil || trace.Traceparent != "00-ab" {
		t.Fatalf("%v, %v", &trace, err)
	}
	id, _ := frames.Decode(frame)
	var ferr *frames.Error
	err = f.Decode(ctx, "", frame, &tasksv1.TaskEnvelope{})
	if !errors.Is(err, frames.ErrWrongType) || !errors.As(err, &ferr) || ferr.SchemaID != id.SchemaID ||
		ferr.Expected != "fleet.tasks.v1.TaskEnvelope" || ferr.Actual != "fleet.tasks.v1.TraceContext" ||
		fmt.Sprint(ferr.Subjects) != "[go-traces-value]" ||
		!strings.Contains(err.Error(), `(subject "go-traces-value" version 1) holds fleet.tasks.v1.TraceContext`) ||
		!strings.Contains(err.Error(), "sits elsewhere in its file (path [0], the frame's [1])") {
		t.Fatalf("wrong type: %v", err)
	}
	unknown, _ := frames.Encode(nil, 4_000_000, []int{0})
	err = f.Decode(ctx, "", unknown, &trace)
	if !errors.Is(err, frames.ErrUnknownSchemaID) || !strings.Contains(err.Error(), "schema id 4000000: unknown to the registry at http://127.0.0.1:") ||
		!strings.Contains(err.Error(), "40403") {
		t.Fatalf("unknown id: %v", err)
	}
	outOfRange, _ := frames.Encode(nil, id.SchemaID, []int{7})
	if err := f.Decode(ctx, "", outOfRange, &trace); !errors.Is(err, frames.ErrIndexOutOfRange) ||
		!strings.Contains(err.Error(), "envelope.proto has 2 message(s) at top level") {
		t.Fatalf("index out of range: %v", err)
	}
}

// renamed is `package <pkg>; message <name> { string a = 1; }` in a file of its own.
func renamed(t *testing.T, pkg, name string) protoreflect.MessageDescriptor {
	t.Helper()
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String(strings.ReplaceAll(pkg, ".", "/") + "/" + strings.ToLower(name) + ".proto"), Package: proto.String(pkg), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String(name), Field: []*descriptorpb.FieldDescriptorProto{{
			Name: proto.String("a"), Number: proto.Int32(1), JsonName: proto.String("a"),
			Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		}}}},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Messages().Get(0)
}

func TestAnotherTypePassesOnlyWhenCompatible(t *testing.T) {
	ctx := context.Background()
	oldMD, newMD := renamed(t, "goshop.v1", "Order"), renamed(t, "goshop.v1", "Purchase")
	c := newClient(t, registry.Config{})
	f := registry.NewFrames(c, registry.FramesOptions{})
	put(t, "/config/go-orders-none-value", `{"compatibility": "NONE"}`)
	put(t, "/config/go-orders-backward-value", `{"compatibility": "BACKWARD"}`)
	old := dynamicpb.NewMessage(oldMD)
	old.Set(oldMD.Fields().Get(0), protoreflect.ValueOfString("x"))
	frame, err := f.Encode(ctx, "go-orders-none", old)
	if err != nil {
		t.Fatal(err)
	}
	read := func(topic string) (string, error) {
		m := dynamicpb.NewMessage(newMD)
		err := f.Decode(ctx, topic, frame, m)
		return m.Get(newMD.Fields().Get(0)).String(), err
	}
	if a, err := read(""); err != nil || a != "x" {
		t.Fatalf("NONE: %q, %v", a, err)
	}
	sent := c.Requests()
	if a, err := read("go-orders-none"); err != nil || a != "x" || c.Requests() != sent {
		t.Fatalf("cached verdict: %q, %v, %d requests", a, err, c.Requests()-sent)
	}
	if again, err := f.Encode(ctx, "go-orders-backward", old); err != nil || string(again) != string(frame) {
		t.Fatalf("the same schema under another subject: %x, %v", again, err)
	}
	c.Clear()
	for _, topic := range []string{"go-orders-backward", ""} {
		_, err := read(topic)
		var ferr *frames.Error
		if !errors.As(err, &ferr) || !errors.Is(err, frames.ErrWrongType) ||
			!strings.Contains(err.Error(), "holds goshop.v1.Order, but the consumer expects goshop.v1.Purchase") ||
			!strings.Contains(err.Error(), `"go-orders-backward-value" version 1`) ||
			!strings.Contains(err.Error(), "go-orders-backward-value is BACKWARD: MESSAGE_REMOVED") ||
			strings.Contains(err.Error(), "go-orders-none-value is") {
			t.Fatalf("topic %q: %v", topic, err)
		}
	}
}

func TestUseLatestAndLookupNeverRegister(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, registry.Config{})
	m := &tasksv1.SendNotificationTask{Recipient: "ops@example.com"}
	lookup := registry.NewFrames(c, registry.FramesOptions{IDChoice: registry.Lookup})
	if _, err := lookup.Encode(ctx, "go-notify", m); !errors.Is(err, registry.ErrNotFound) ||
		!strings.Contains(err.Error(), `not registered under subject "go-notify-value"`) {
		t.Fatalf("lookup before registering: %v", err)
	}
	registered, err := registry.NewFrames(c, registry.FramesOptions{}).Encode(ctx, "go-notify", m)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := lookup.Encode(ctx, "go-notify", m); err != nil || string(got) != string(registered) {
		t.Fatalf("lookup: %x, %v", got, err)
	}
	latest := registry.NewFrames(c, registry.FramesOptions{IDChoice: registry.UseLatest})
	if got, err := latest.Encode(ctx, "go-notify", m); err != nil || string(got) != string(registered) {
		t.Fatalf("latest: %x, %v", got, err)
	}
	_, err = latest.Encode(ctx, "go-notify", &tasksv1.TaskEnvelope{})
	if !errors.Is(err, frames.ErrWrongType) || !strings.Contains(err.Error(),
		`subject "go-notify-value": its latest version 1 holds fleet.tasks.v1.GenerateReportTask where the producer's fleet.tasks.v1.TaskEnvelope sits`) {
		t.Fatalf("latest of another type: %v", err)
	}
}
