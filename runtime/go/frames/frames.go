// Package frames reads and writes Confluent's wire format for Protobuf payloads,
// over any transport (bytes in, bytes out).
//
// A frame is the magic byte 0, the schema id as 4 big-endian bytes, the message
// indexes (the path of the message inside its .proto file: a count, then that
// many indexes, each a zigzag varint; the path [0] is the single byte 0), and
// then the message in the Protobuf binary encoding. Confluent's Python client
// once wrote the indexes as plain varints (its "deprecated format"); Options
// selects it, since the bytes cannot tell the two apart.
package frames

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

const (
	// Magic is the first byte of every frame.
	Magic byte = 0
	// HeaderSize counts the magic byte and the schema id.
	HeaderSize = 5
	// Confluent reads the indexes as 32-bit varints.
	maxVarintBytes = 5
)

// The kinds of error a frame can have; test with errors.Is.
var (
	ErrShortFrame      = errors.New("short frame")
	ErrBadMagic        = errors.New("bad magic byte")
	ErrBadVarint       = errors.New("bad varint")
	ErrIndexOutOfRange = errors.New("message index out of range")
	ErrUnknownSchemaID = errors.New("unknown schema id")
	ErrWrongType       = errors.New("wrong message type")
	ErrPayload         = errors.New("payload does not parse")
)

// Error is every error this package returns: a kind (one of the Err values),
// the schema id when the header was read, and what went wrong.
type Error struct {
	Kind     error
	SchemaID uint32
	HasID    bool
	// Expected and Actual are the full message names of an ErrWrongType.
	Expected, Actual string
	// Subjects are the registry subjects holding the id, when a registry was asked.
	Subjects []string
	Detail   string
}

func (e *Error) Error() string {
	if e.HasID {
		return fmt.Sprintf("frames: %v: schema id %d: %s", e.Kind, e.SchemaID, e.Detail)
	}
	return fmt.Sprintf("frames: %v: %s", e.Kind, e.Detail)
}

func (e *Error) Unwrap() error { return e.Kind }

// Options choose the index encoding; the zero value is Confluent's current format.
type Options struct {
	// Deprecated writes and reads the indexes as plain varints, as Confluent's
	// Python serializer did with use.deprecated.format.
	Deprecated bool
}

// Frame is a decoded frame.
type Frame struct {
	SchemaID uint32
	Indexes  []int
	Payload  []byte
}

// Encode frames already-serialized message bytes.
func (o Options) Encode(payload []byte, schemaID uint32, indexes []int) ([]byte, error) {
	if len(indexes) == 0 {
		return nil, fmt.Errorf("frames: message indexes must not be empty")
	}
	out := make([]byte, 0, HeaderSize+1+len(indexes)*2+len(payload))
	out = append(out, Magic)
	out = binary.BigEndian.AppendUint32(out, schemaID)
	if len(indexes) == 1 && indexes[0] == 0 {
		out = append(out, 0)
	} else {
		out = o.appendVarint(out, len(indexes))
		for _, index := range indexes {
			if index < 0 || index > math.MaxInt32 {
				return nil, fmt.Errorf("frames: message index %d is not within 0 to %d", index, math.MaxInt32)
			}
			out = o.appendVarint(out, index)
		}
	}
	return append(out, payload...), nil
}

// Decode splits a frame into schema id, message indexes and message bytes.
func (o Options) Decode(frame []byte) (Frame, error) {
	if len(frame) < HeaderSize+1 {
		return Frame{}, &Error{Kind: ErrShortFrame, Detail: fmt.Sprintf(
			"frame of %d bytes is shorter than the %d-byte minimum (magic byte, 4-byte schema id, message indexes)",
			len(frame), HeaderSize+1)}
	}
	if frame[0] != Magic {
		return Frame{}, &Error{Kind: ErrBadMagic, Detail: fmt.Sprintf(
			"frame starts with byte 0x%02x, not the magic byte 0x00", frame[0])}
	}
	id := binary.BigEndian.Uint32(frame[1:HeaderSize])
	count, at, err := o.varint(frame, HeaderSize, id, "message index count")
	if err != nil {
		return Frame{}, err
	}
	if count < 0 || count > len(frame)-at {
		return Frame{}, &Error{Kind: ErrBadVarint, SchemaID: id, HasID: true, Detail: fmt.Sprintf(
			"message index count %d is impossible with %d bytes left", count, len(frame)-at)}
	}
	if count == 0 {
		return Frame{SchemaID: id, Indexes: []int{0}, Payload: frame[at:]}, nil
	}
	indexes := make([]int, count)
	for n := range indexes {
		indexes[n], at, err = o.varint(frame, at, id, fmt.Sprintf("message index %d", n))
		if err != nil {
			return Frame{}, err
		}
	}
	return Frame{SchemaID: id, Indexes: indexes, Payload: frame[at:]}, nil
}

// Encode frames bytes in Confluent's current format.
func Encode(payload []byte, schemaID uint32, indexes []int) ([]byte, error) {
	return Options{}.Encode(payload, schemaID, indexes)
}

// Decode reads a frame in Confluent's current format.
func Decode(frame []byte) (Frame, error) { return Options{}.Decode(frame) }

// MessageIndexes is the index path of a message inside its file: its
// top-level index, then the nested ones.
func MessageIndexes(md protoreflect.MessageDescriptor) []int {
	var path []int
	var d protoreflect.Descriptor = md
	for {
		if _, ok := d.(protoreflect.MessageDescriptor); !ok {
			break
		}
		path = append([]int{d.Index()}, path...)
		d = d.Parent()
	}
	return path
}

// MessageAt is the message at an index path of a file.
func MessageAt(fd protoreflect.FileDescriptor, indexes []int, schemaID uint32) (protoreflect.MessageDescriptor, error) {
	level := fd.Messages()
	var md protoreflect.MessageDescriptor
	for depth, index := range indexes {
		if index < 0 || index >= level.Len() {
			where := "top level"
			if md != nil {
				where = string(md.FullName())
			}
			return nil, &Error{Kind: ErrIndexOutOfRange, SchemaID: schemaID, HasID: true, Detail: fmt.Sprintf(
				"message index %d at depth %d of %v is out of range: %s has %d message(s) at %s",
				index, depth, indexes, fd.Path(), level.Len(), where)}
		}
		md = level.Get(index)
		level = md.Messages()
	}
	return md, nil
}

// MessageNameAt is the full name of the message at an index path of a file,
// from its descriptor proto (what a registry serves for an id).
func MessageNameAt(fd *descriptorpb.FileDescriptorProto, indexes []int, schemaID uint32) (string, error) {
	level := fd.GetMessageType()
	names := []string{}
	if fd.GetPackage() != "" {
		names = append(names, fd.GetPackage())
	}
	prefix := len(names)
	for depth, index := range indexes {
		if index < 0 || index >= len(level) {
			where := "top level"
			if len(names) > prefix {
				where = strings.Join(names[prefix:], ".")
			}
			return "", &Error{Kind: ErrIndexOutOfRange, SchemaID: schemaID, HasID: true, Detail: fmt.Sprintf(
				"message index %d at depth %d of %v is out of range: %s has %d message(s) at %s",
				index, depth, indexes, fd.GetName(), len(level), where)}
		}
		names = append(names, level[index].GetName())
		level = level[index].GetNestedType()
	}
	return strings.Join(names, "."), nil
}

// Resolver returns the .proto file registered under a schema id, or nil when
// the id is unknown.
type Resolver func(schemaID uint32) (protoreflect.FileDescriptor, error)

// EncodeMessage frames a message; its indexes come from its descriptor.
func (o Options) EncodeMessage(m proto.Message, schemaID uint32) ([]byte, error) {
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	return o.Encode(payload, schemaID, MessageIndexes(m.ProtoReflect().Descriptor()))
}

// DecodeMessage reads a frame into m, refusing a frame whose schema id names
// another message type than m's.
func (o Options) DecodeMessage(frame []byte, m proto.Message, resolve Resolver) error {
	parts, err := o.Decode(frame)
	if err != nil {
		return err
	}
	fd, err := resolve(parts.SchemaID)
	if err != nil {
		return &Error{Kind: ErrUnknownSchemaID, SchemaID: parts.SchemaID, HasID: true, Detail: err.Error()}
	}
	if fd == nil {
		return &Error{Kind: ErrUnknownSchemaID, SchemaID: parts.SchemaID, HasID: true,
			Detail: "the resolver does not know it"}
	}
	md, err := MessageAt(fd, parts.Indexes, parts.SchemaID)
	if err != nil {
		return err
	}
	wanted := m.ProtoReflect().Descriptor().FullName()
	if md.FullName() != wanted {
		return &Error{Kind: ErrWrongType, SchemaID: parts.SchemaID, HasID: true,
			Expected: string(wanted), Actual: string(md.FullName()), Detail: fmt.Sprintf(
				"file %s, indexes %v holds %s, but the consumer expects %s",
				fd.Path(), parts.Indexes, md.FullName(), wanted)}
	}
	if err := proto.Unmarshal(parts.Payload, m); err != nil {
		return &Error{Kind: ErrPayload, SchemaID: parts.SchemaID, HasID: true, Detail: fmt.Sprintf(
			"%d bytes as %s: %v", len(parts.Payload), wanted, err)}
	}
	return nil
}

// EncodeMessage frames a message in Confluent's current format.
func EncodeMessage(m proto.Message, schemaID uint32) ([]byte, error) {
	return Options{}.EncodeMessage(m, schemaID)
}

// DecodeMessage reads a frame in Confluent's current format into m.
func DecodeMessage(frame []byte, m proto.Message, resolve Resolver) error {
	return Options{}.DecodeMessage(frame, m, resolve)
}

func (o Options) appendVarint(out []byte, value int) []byte {
	bits := uint32(value)
	if !o.Deprecated {
		bits = uint32(int32(value)<<1) ^ uint32(int32(value)>>31)
	}
	return binary.AppendUvarint(out, uint64(bits))
}

func (o Options) varint(frame []byte, at int, id uint32, what string) (int, int, error) {
	var bits uint64
	for n := 0; n < maxVarintBytes; n++ {
		if at+n >= len(frame) {
			return 0, 0, &Error{Kind: ErrBadVarint, SchemaID: id, HasID: true, Detail: fmt.Sprintf(
				"frame ends inside the varint of the %s (byte %d)", what, at+n)}
		}
		b := frame[at+n]
		bits |= uint64(b&0x7f) << (7 * n)
		if b&0x80 == 0 {
			if bits > 0xffffffff {
				break
			}
			if o.Deprecated {
				return int(bits), at + n + 1, nil
			}
			u := uint32(bits)
			return int(int32(u>>1) ^ -int32(u&1)), at + n + 1, nil
		}
	}
	return 0, 0, &Error{Kind: ErrBadVarint, SchemaID: id, HasID: true, Detail: fmt.Sprintf(
		"the varint of the %s at byte %d is longer than %d bytes or exceeds 32 bits", what, at, maxVarintBytes)}
}
