package frames_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/fleet-platform/contracts/generated/go/fleet/adapter/v1"
	_ "github.com/fleet-platform/contracts/generated/go/fleet/inference/v1"
	_ "github.com/fleet-platform/contracts/generated/go/fleet/tasks/v1"
	"github.com/fleet-platform/contracts/runtime/go/frames"
)

type vector struct {
	Name     string `json:"name"`
	Message  string `json:"message"`
	File     string `json:"file"`
	SchemaID uint32 `json:"schema_id"`
	Indexes  []int  `json:"indexes"`
}

// The golden vectors Python wrote (FRAMES_VECTORS, else the committed ones):
// Go decodes each frame, re-encodes it byte for byte, and reads its JSON to the
// same message. With FRAMES_GO_OUT set, Go also writes its own frame and JSON of
// each message, built from the JSON, for the Python side to read back.
func TestGoldenVectors(t *testing.T) {
	dir := os.Getenv("FRAMES_VECTORS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "tests", "fixtures", "frames", "vectors")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest []vector
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest) == 0 {
		t.Fatal("no vectors")
	}
	files := map[uint32]string{}
	for _, v := range manifest {
		files[v.SchemaID] = v.File
	}
	resolve := func(id uint32) (protoreflect.FileDescriptor, error) {
		path, ok := files[id]
		if !ok {
			return nil, fmt.Errorf("no file for id %d", id)
		}
		return protoregistry.GlobalFiles.FindFileByPath(path)
	}
	out := os.Getenv("FRAMES_GO_OUT")
	for _, v := range manifest {
		t.Run(v.Name, func(t *testing.T) {
			mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(v.Message))
			if err != nil {
				t.Fatal(err)
			}
			if got := frames.MessageIndexes(mt.Descriptor()); fmt.Sprint(got) != fmt.Sprint(v.Indexes) {
				t.Fatalf("indexes %v, Python wrote %v", got, v.Indexes)
			}
			frame, err := os.ReadFile(filepath.Join(dir, v.Name+".bin"))
			if err != nil {
				t.Fatal(err)
			}
			fromFrame := mt.New().Interface()
			if err := frames.DecodeMessage(frame, fromFrame, resolve); err != nil {
				t.Fatal(err)
			}
			again, err := frames.EncodeMessage(fromFrame, v.SchemaID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, frame) {
				t.Fatalf("re-encoded frame differs:\n go     %x\n python %x", again, frame)
			}
			text, err := os.ReadFile(filepath.Join(dir, v.Name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			fromJSON := mt.New().Interface()
			if err := protojson.Unmarshal(text, fromJSON); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(fromJSON, fromFrame) {
				t.Fatalf("JSON and frame differ:\n json  %v\n frame %v", fromJSON, fromFrame)
			}
			if out == "" {
				return
			}
			goFrame, err := frames.EncodeMessage(fromJSON, v.SchemaID)
			if err != nil {
				t.Fatal(err)
			}
			goJSON, err := protojson.Marshal(fromFrame)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, v.Name+".bin"), goFrame, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, v.Name+".json"), goJSON, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}
