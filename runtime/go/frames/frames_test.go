package frames_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	tasksv1 "github.com/fleet-platform/contracts/generated/go/fleet/tasks/v1"
	"github.com/fleet-platform/contracts/runtime/go/frames"
)

// nestedFile: package n; message A {} message B { message C {} message D { message E {} } }
func nestedFile(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	msg := func(name string, nested ...*descriptorpb.DescriptorProto) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{Name: proto.String(name), NestedType: nested}
	}
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: proto.String("n.proto"), Package: proto.String("n"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{msg("A"), msg("B", msg("C"), msg("D", msg("E")))},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func TestIndexesAndBytes(t *testing.T) {
	fd := nestedFile(t)
	e := fd.Messages().Get(1).Messages().Get(1).Messages().Get(0)
	cases := []struct {
		md      protoreflect.MessageDescriptor
		indexes string
		header  []byte
		old     []byte
	}{
		{fd.Messages().Get(0), "[0]", []byte{0, 0, 0, 1, 2, 0}, []byte{0, 0, 0, 1, 2, 0}},
		{fd.Messages().Get(1), "[1]", []byte{0, 0, 0, 1, 2, 2, 2}, []byte{0, 0, 0, 1, 2, 1, 1}},
		{e, "[1 1 0]", []byte{0, 0, 0, 1, 2, 6, 2, 2, 0}, []byte{0, 0, 0, 1, 2, 3, 1, 1, 0}},
	}
	for _, c := range cases {
		indexes := frames.MessageIndexes(c.md)
		if fmt.Sprint(indexes) != c.indexes {
			t.Fatalf("%s: indexes %v, want %s", c.md.FullName(), indexes, c.indexes)
		}
		for _, o := range []struct {
			opts frames.Options
			want []byte
		}{{frames.Options{}, c.header}, {frames.Options{Deprecated: true}, c.old}} {
			got, err := o.opts.Encode([]byte{0x08, 0x01}, 258, indexes)
			if err != nil {
				t.Fatal(err)
			}
			want := append(append([]byte{}, o.want...), 0x08, 0x01)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s deprecated=%v: %x, want %x", c.md.FullName(), o.opts.Deprecated, got, want)
			}
			back, err := o.opts.Decode(got)
			if err != nil || back.SchemaID != 258 || fmt.Sprint(back.Indexes) != c.indexes || !bytes.Equal(back.Payload, []byte{0x08, 0x01}) {
				t.Fatalf("decode %x: %+v %v", got, back, err)
			}
		}
	}
	// An index of 64 and more needs two varint bytes (zigzag doubles it).
	got, _ := frames.Encode(nil, 7, []int{64})
	if !bytes.Equal(got, []byte{0, 0, 0, 0, 7, 2, 0x80, 0x01}) {
		t.Fatalf("%x", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	fd := nestedFile(t)
	resolve := func(id uint32) (protoreflect.FileDescriptor, error) {
		if id == 9 {
			return fd, nil
		}
		return nil, fmt.Errorf("no schema %d", id)
	}
	cases := []struct {
		frame []byte
		kind  error
		says  string
	}{
		{[]byte{0, 0, 0}, frames.ErrShortFrame, "3 bytes"},
		{[]byte{1, 0, 0, 0, 9, 0}, frames.ErrBadMagic, "0x01"},
		{[]byte{0, 0, 0, 0, 9, 0x80}, frames.ErrBadVarint, "schema id 9"},
		{[]byte{0, 0, 0, 0, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, frames.ErrBadVarint, "longer than 5 bytes"},
		{[]byte{0, 0, 0, 0, 9, 1}, frames.ErrBadVarint, "count -1"},
		{[]byte{0, 0, 0, 0, 9, 20, 0}, frames.ErrBadVarint, "count 10 is impossible"},
		{[]byte{0, 0, 0, 0, 9, 2, 4}, frames.ErrIndexOutOfRange, "n.proto has 2 message(s) at top level"},
		{[]byte{0, 0, 0, 0, 9, 4, 2, 6}, frames.ErrIndexOutOfRange, "2 message(s) at n.B"},
		{[]byte{0, 0, 0, 0, 8, 0}, frames.ErrUnknownSchemaID, "schema id 8: no schema 8"},
		{[]byte{0, 0, 0, 0, 9, 0, 0xff}, frames.ErrPayload, "as n.A"},
	}
	for _, c := range cases {
		m := dynamicpb.NewMessage(fd.Messages().Get(0))
		err := frames.DecodeMessage(c.frame, m, resolve)
		var fe *frames.Error
		if !errors.Is(err, c.kind) || !errors.As(err, &fe) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%x: got %v, want %v saying %q", c.frame, err, c.kind, c.says)
		}
	}
}

func TestWrongTypeNamesBoth(t *testing.T) {
	fd := tasksv1.File_fleet_tasks_v1_envelope_proto
	frame, err := frames.EncodeMessage(&tasksv1.TraceContext{Traceparent: "x"}, 77)
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(uint32) (protoreflect.FileDescriptor, error) { return fd, nil }
	err = frames.DecodeMessage(frame, &tasksv1.TaskEnvelope{}, resolve)
	var fe *frames.Error
	if !errors.As(err, &fe) || fe.Kind != frames.ErrWrongType || fe.SchemaID != 77 ||
		fe.Expected != "fleet.tasks.v1.TaskEnvelope" || fe.Actual != "fleet.tasks.v1.TraceContext" {
		t.Fatalf("%v", err)
	}
	if !strings.Contains(err.Error(), "schema id 77") || !strings.Contains(err.Error(), "fleet.tasks.v1.TaskEnvelope") {
		t.Fatalf("%v", err)
	}
	var ok tasksv1.TraceContext
	if err := frames.DecodeMessage(frame, &ok, resolve); err != nil || ok.Traceparent != "x" {
		t.Fatalf("%v %v", err, &ok)
	}
}

// Any bytes end in a frame or a *frames.Error, never a panic.
func FuzzDecode(f *testing.F) {
	for _, seed := range [][]byte{{0, 0, 0, 0, 9, 0}, {0, 0, 0, 0, 9, 6, 2, 2, 0, 8, 1}, {0, 0, 0, 0, 9, 0xff}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, o := range []frames.Options{{}, {Deprecated: true}} {
			got, err := o.Decode(b)
			var fe *frames.Error
			if err != nil && !errors.As(err, &fe) {
				t.Fatalf("%x: %v", b, err)
			}
			if err == nil {
				again, err := o.Encode(got.Payload, got.SchemaID, got.Indexes)
				if err == nil && len(again) > len(b) {
					t.Fatalf("%x re-encodes longer: %x", b, again)
				}
			}
		}
	})
}

func TestEncodeRefusesBadIndexes(t *testing.T) {
	for _, indexes := range [][]int{nil, {-1}, {1, math.MaxInt32 + 1}} {
		if _, err := frames.Encode(nil, 1, indexes); err == nil {
			t.Errorf("%v: no error", indexes)
		}
	}
	frame, err := frames.Encode(nil, 1, []int{math.MaxInt32})
	if err != nil {
		t.Fatal(err)
	}
	back, err := frames.Decode(frame)
	if err != nil || back.Indexes[0] != math.MaxInt32 {
		t.Fatalf("%v %v", back, err)
	}
}

// go test -bench EncodeDecode ./frames: the TaskEnvelope golden vector, framed and read back.
func BenchmarkEncodeDecode(b *testing.B) {
	text, err := os.ReadFile(filepath.Join("..", "..", "..", "tests", "fixtures", "frames", "vectors", "fleet.tasks.v1.TaskEnvelope.0.json"))
	if err != nil {
		b.Fatal(err)
	}
	var m tasksv1.TaskEnvelope
	if err := protojson.Unmarshal(text, &m); err != nil {
		b.Fatal(err)
	}
	resolve := func(uint32) (protoreflect.FileDescriptor, error) {
		return tasksv1.File_fleet_tasks_v1_envelope_proto, nil
	}
	for b.Loop() {
		frame, err := frames.EncodeMessage(&m, 100)
		if err != nil {
			b.Fatal(err)
		}
		var back tasksv1.TaskEnvelope
		if err := frames.DecodeMessage(frame, &back, resolve); err != nil {
			b.Fatal(err)
		}
	}
}
