package confluentgo

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/protobuf"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	_ "github.com/fleet-platform/contracts/generated/go/fleet/adapter/v1"
	_ "github.com/fleet-platform/contracts/generated/go/fleet/inference/v1"
	_ "github.com/fleet-platform/contracts/generated/go/fleet/tasks/v1"
	"github.com/fleet-platform/contracts/runtime/go/frames"
	"github.com/fleet-platform/contracts/runtime/go/registry"
)

type vector struct {
	Name    string `json:"name"`
	Message string `json:"message"`
	HasMap  bool   `json:"has_map"`
}

// samples are the golden vectors (tests/fixtures/frames/vectors, or
// $FRAMES_VECTORS): every message of the contracts, read from its JSON.
func samples(t testing.TB) ([]vector, map[string]proto.Message) {
	t.Helper()
	dir := os.Getenv("FRAMES_VECTORS")
	if dir == "" {
		dir = filepath.Join("..", "fixtures", "frames", "vectors")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest []vector
	if err := json.Unmarshal(raw, &manifest); err != nil || len(manifest) == 0 {
		t.Fatalf("manifest: %v (%d vectors)", err, len(manifest))
	}
	messages := map[string]proto.Message{}
	for _, v := range manifest {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(v.Message))
		if err != nil {
			t.Fatal(err)
		}
		text, err := os.ReadFile(filepath.Join(dir, v.Name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		m := mt.New().Interface()
		if err := protojson.Unmarshal(text, m); err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		messages[v.Name] = m
	}
	return manifest, messages
}

func confluentSerde(t testing.TB, url string) (*protobuf.Serializer, *protobuf.Deserializer) {
	t.Helper()
	client, err := schemaregistry.NewClient(schemaregistry.NewConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	ser, err := protobuf.NewSerializer(client, serde.ValueSerde, protobuf.NewSerializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	deser, err := protobuf.NewDeserializer(client, serde.ValueSerde, protobuf.NewDeserializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	return ser, deser
}

// sameFrame checks that our frame of m under the id confluent-kafka-go wrote
// is its frame byte for byte; with a map, whose entries Go writes in random
// order, the header must match and the message bytes read back equal.
func sameFrame(t *testing.T, v vector, m proto.Message, theirs []byte) {
	t.Helper()
	parts, err := frames.Decode(theirs)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := frames.EncodeMessage(m, parts.SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	if !v.HasMap {
		if !bytes.Equal(ours, theirs) {
			t.Fatalf("%s:\n ours            %x\n confluent-go    %x", v.Name, ours, theirs)
		}
		return
	}
	header := len(theirs) - len(parts.Payload)
	if !bytes.Equal(ours[:header], theirs[:header]) {
		t.Fatalf("%s: headers differ: %x, %x", v.Name, ours[:header], theirs[:header])
	}
	back := m.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(parts.Payload, back); err != nil || !proto.Equal(back, m) {
		t.Fatalf("%s: %v", v.Name, err)
	}
}

// With confluent-kafka-go's in-process mock registry: its serializer writes
// our frames for every contract message, its deserializer reads ours.
func TestOurFramesAreConfluentGoFrames(t *testing.T) {
	manifest, messages := samples(t)
	ser, deser := confluentSerde(t, "mock://frames")
	for _, v := range manifest {
		m := messages[v.Name]
		topic := "mock-" + string(m.ProtoReflect().Descriptor().FullName())
		theirs, err := ser.Serialize(topic, m)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		sameFrame(t, v, m, theirs)
		parts, _ := frames.Decode(theirs)
		ours, _ := frames.EncodeMessage(m, parts.SchemaID)
		back := m.ProtoReflect().New().Interface()
		if err := deser.DeserializeInto(topic, ours, back); err != nil || !proto.Equal(back, m) {
			t.Fatalf("%s: confluent-go reads ours: %v", v.Name, err)
		}
	}
}

// Against our registry ($REGISTRY_URL), driven by tests/test_confluent_go.py:
// confluent-kafka-go registers and serializes every contract message (our Go
// frames equal its bytes; our Frames with UseLatest find its id), reads what
// confluent-kafka's Python serializer and our Python runtime wrote
// ($FRAMES_PY/<name>.bin, ours-<name>.bin and auto-<name>.bin, the last two
// registered as base64 descriptors), and writes its frames and ours to
// $FRAMES_OUT for Python to read.
func TestConfluentGoAgainstOurRegistry(t *testing.T) {
	url, pyDir, out := os.Getenv("REGISTRY_URL"), os.Getenv("FRAMES_PY"), os.Getenv("FRAMES_OUT")
	if url == "" || pyDir == "" || out == "" {
		t.Skip("needs REGISTRY_URL, FRAMES_PY and FRAMES_OUT: run through tests/test_confluent_go.py")
	}
	ctx := context.Background()
	manifest, messages := samples(t)
	ser, deser := confluentSerde(t, url)
	client, err := registry.New(registry.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	latest := registry.NewFrames(client, registry.FramesOptions{IDChoice: registry.UseLatest})
	ours := registry.NewFrames(client, registry.FramesOptions{Strategy: registry.RecordName})
	for _, v := range manifest {
		t.Run(v.Name, func(t *testing.T) {
			m := messages[v.Name]
			name := string(m.ProtoReflect().Descriptor().FullName())
			topic := "go-" + name
			theirs, err := ser.Serialize(topic, m)
			if err != nil {
				t.Fatal(err)
			}
			sameFrame(t, v, m, theirs)
			if !v.HasMap {
				if mine, err := latest.Encode(ctx, topic, m); err != nil || !bytes.Equal(mine, theirs) {
					t.Fatalf("our Frames with UseLatest: %x, %v", mine, err)
				}
			}
			back := m.ProtoReflect().New().Interface()
			if err := ours.Decode(ctx, topic, theirs, back); err != nil || !proto.Equal(back, m) {
				t.Fatalf("our Frames read confluent-go's frame: %v", err)
			}
			mine, err := ours.Encode(ctx, "", m)
			if err != nil {
				t.Fatal(err)
			}
			for file, frame := range map[string][]byte{v.Name + ".bin": theirs, "ours-" + v.Name + ".bin": mine} {
				if err := os.WriteFile(filepath.Join(out, file), frame, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// Python's frames: its schema registered as .proto text (""), and as base64
			// descriptors by our runtime ("ours-") and by confluent-kafka's serializer
			// ("auto-"), which the registry answers as .proto text for confluent-go to parse.
			for _, prefix := range []string{"", "ours-", "auto-"} {
				frame, err := os.ReadFile(filepath.Join(pyDir, prefix+v.Name+".bin"))
				if err != nil {
					t.Fatal(err)
				}
				fromConfluent := m.ProtoReflect().New().Interface()
				if err := deser.DeserializeInto(topic, frame, fromConfluent); err != nil || !proto.Equal(fromConfluent, m) {
					t.Fatalf("confluent-go reads Python's %sframe: %v", prefix, err)
				}
				fromOurs := m.ProtoReflect().New().Interface()
				if err := ours.Decode(ctx, "", frame, fromOurs); err != nil || !proto.Equal(fromOurs, m) {
					t.Fatalf("our Frames read Python's %sframe: %v", prefix, err)
				}
			}
		})
	}
}

type textCase struct {
	Topic   string `json:"topic"`
	Message string `json:"message"`
	Frame   string `json:"frame"`
	Payload string `json:"payload"`
}

// Driven by tests/test_confluent_go.py: frames of fixture schemas registered as
// base64 descriptors (custom options, proto2 groups, defaults, extensions),
// which our registry answers as .proto text rendered from the descriptor.
// confluent-kafka-go parses that text (and its references') to read each
// frame; the message types come from $PROTO_TEXT_CASES/files.binpb, the
// descriptors as compiled.
func TestConfluentGoParsesRenderedText(t *testing.T) {
	url, dir := os.Getenv("REGISTRY_URL"), os.Getenv("PROTO_TEXT_CASES")
	if url == "" || dir == "" {
		t.Skip("needs REGISTRY_URL and PROTO_TEXT_CASES: run through tests/test_confluent_go.py")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "files.binpb"))
	if err != nil {
		t.Fatal(err)
	}
	set := &descriptorpb.FileDescriptorSet{}
	if err := proto.Unmarshal(raw, set); err != nil {
		t.Fatal(err)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []textCase
	if err := json.Unmarshal(raw, &cases); err != nil || len(cases) == 0 {
		t.Fatalf("cases: %v (%d)", err, len(cases))
	}
	_, deser := confluentSerde(t, url)
	for _, c := range cases {
		t.Run(c.Message, func(t *testing.T) {
			found, err := files.FindDescriptorByName(protoreflect.FullName(c.Message))
			if err != nil {
				t.Fatal(err)
			}
			md := found.(protoreflect.MessageDescriptor)
			frame, err := os.ReadFile(filepath.Join(dir, c.Frame))
			if err != nil {
				t.Fatal(err)
			}
			payload, err := os.ReadFile(filepath.Join(dir, c.Payload))
			if err != nil {
				t.Fatal(err)
			}
			want := dynamicpb.NewMessage(md)
			if err := proto.Unmarshal(payload, want); err != nil {
				t.Fatal(err)
			}
			got := dynamicpb.NewMessage(md)
			if err := deser.DeserializeInto(c.Topic, frame, got); err != nil {
				t.Fatalf("confluent-go reads a frame of a base64-registered schema: %v", err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("read %v, want %v", got, want)
			}
		})
	}
}
