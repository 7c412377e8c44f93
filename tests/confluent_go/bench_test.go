package confluentgo

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	tasksv1 "github.com/fleet-platform/contracts/generated/go/fleet/tasks/v1"
	"github.com/fleet-platform/contracts/runtime/go/frames"
)

// One full TaskEnvelope (the golden vector), framed and read back into a new
// message: ours with a resolver over the generated file, confluent-kafka-go's
// serializer and deserializer on its in-process mock registry (schema
// registered before timing, CacheSchemas on, its fastest setting).
// bench/frames_go.py runs both and prints the ratio.
func BenchmarkEncodeDecode(b *testing.B) {
	_, messages := samples(b)
	m := messages["fleet.tasks.v1.TaskEnvelope.0"].(*tasksv1.TaskEnvelope)

	b.Run("ours", func(b *testing.B) {
		resolve := func(uint32) (protoreflect.FileDescriptor, error) {
			return tasksv1.File_fleet_tasks_v1_envelope_proto, nil
		}
		for b.Loop() {
			frame, err := frames.EncodeMessage(m, 100)
			if err != nil {
				b.Fatal(err)
			}
			var back tasksv1.TaskEnvelope
			if err := frames.DecodeMessage(frame, &back, resolve); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("confluent-go", func(b *testing.B) {
		ser, deser := confluentSerde(b, "mock://bench")
		ser.Conf.CacheSchemas = true
		frame, err := ser.Serialize("bench", m)
		if err != nil {
			b.Fatal(err)
		}
		var check tasksv1.TaskEnvelope
		if err := deser.DeserializeInto("bench", frame, &check); err != nil || !proto.Equal(&check, m) {
			b.Fatal(err)
		}
		for b.Loop() {
			frame, err := ser.Serialize("bench", m)
			if err != nil {
				b.Fatal(err)
			}
			var back tasksv1.TaskEnvelope
			if err := deser.DeserializeInto("bench", frame, &back); err != nil {
				b.Fatal(err)
			}
		}
	})
}
