package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fleet-platform/contracts/runtime/go/frames"
)

// Strategy names a message's subject, as Confluent's strategies do.
type Strategy int

const (
	// TopicName: "<topic>-value" (or "-key"), one type per topic.
	TopicName Strategy = iota
	// RecordName: the message's full name, one subject per type.
	RecordName
	// TopicRecordName: "<topic>-<message full name>".
	TopicRecordName
)

// IDChoice is how the encoder finds a message's schema id.
type IDChoice int

const (
	// AutoRegister registers the message's file (an existing one keeps its id).
	AutoRegister IDChoice = iota
	// UseLatest takes the subject's latest version, which must hold the message type.
	UseLatest
	// Lookup finds the version holding exactly this file; it never registers.
	Lookup
)

// Imports the registry knows without a reference, as Confluent's serializers skip them.
var builtinPrefixes = []string{"google/protobuf/", "google/type/", "confluent/"}

// SubjectName is the subject of a message type under a strategy.
func SubjectName(strategy Strategy, topic string, fullName protoreflect.FullName, key bool) (string, error) {
	switch strategy {
	case RecordName:
		return string(fullName), nil
	case TopicRecordName:
		if topic == "" {
			return "", fmt.Errorf("registry: subject strategy TopicRecordName needs a topic; none was given")
		}
		return topic + "-" + string(fullName), nil
	default:
		if topic == "" {
			return "", fmt.Errorf("registry: subject strategy TopicName needs a topic; none was given")
		}
		if key {
			return topic + "-key", nil
		}
		return topic + "-value", nil
	}
}

// FramesOptions configure Frames; the zero value is TopicName, AutoRegister,
// value subjects and Confluent's current index format.
type FramesOptions struct {
	Strategy Strategy
	IDChoice IDChoice
	Key      bool
	Format   frames.Options
}

// Frames encodes messages into Confluent frames and decodes frames into the
// type a consumer expects, through a registry. Bytes in, bytes out: any
// transport carries the frames. Schemas are registered as Confluent's Python
// serializer registers them (the base64 FileDescriptorProto of the message's
// file, each import registered first under a subject named after its file).
type Frames struct {
	client *Client
	opts   FramesOptions
	ids    *lru[idKey, int]
}

// NewFrames makes Frames over a client.
func NewFrames(client *Client, opts FramesOptions) *Frames {
	return &Frames{client: client, opts: opts, ids: newLRU[idKey, int](DefaultCacheSize, 0)}
}

// Encode frames m under the id of its subject for topic.
func (f *Frames) Encode(ctx context.Context, topic string, m proto.Message) ([]byte, error) {
	md := m.ProtoReflect().Descriptor()
	subject, err := SubjectName(f.opts.Strategy, topic, md.FullName(), f.opts.Key)
	if err != nil {
		return nil, err
	}
	id, err := f.SchemaID(ctx, md, subject)
	if err != nil {
		return nil, err
	}
	return f.opts.Format.EncodeMessage(m, uint32(id))
}

// SchemaID is the id frames of this message type carry under subject.
func (f *Frames) SchemaID(ctx context.Context, md protoreflect.MessageDescriptor, subject string) (int, error) {
	if f.opts.IDChoice == UseLatest {
		return f.latestID(ctx, md, subject)
	}
	key := idKey{subject, md.ParentFile().Path()}
	if id, ok := f.ids.get(key); ok {
		return id, nil
	}
	register := f.opts.IDChoice == AutoRegister
	s, err := f.SchemaOf(ctx, md.ParentFile(), register)
	if err != nil {
		return 0, err
	}
	var id int
	if register {
		id, err = f.client.Register(ctx, subject, s)
	} else {
		var v SubjectVersion
		v, err = f.client.Lookup(ctx, subject, s)
		if errors.Is(err, ErrNotFound) {
			return 0, fmt.Errorf("registry: %s: its file %s is not registered under subject %q (auto-registration is off): %w",
				md.FullName(), md.ParentFile().Path(), subject, err)
		}
		id = v.ID
	}
	if err != nil {
		return 0, err
	}
	f.ids.put(key, id)
	return id, nil
}

func (f *Frames) latestID(ctx context.Context, md protoreflect.MessageDescriptor, subject string) (int, error) {
	latest, err := f.client.Latest(ctx, subject)
	if err != nil {
		return 0, err
	}
	fd, err := f.client.FileDescriptor(ctx, latest.ID)
	if err != nil {
		return 0, err
	}
	indexes := frames.MessageIndexes(md)
	there, err := frames.MessageNameAt(fd, indexes, uint32(latest.ID))
	if err != nil {
		there = fmt.Sprintf("no message (path %v is out of range)", indexes)
	}
	if there != string(md.FullName()) {
		return 0, &frames.Error{Kind: frames.ErrWrongType, SchemaID: uint32(latest.ID), HasID: true,
			Expected: string(md.FullName()), Actual: there, Subjects: []string{subject}, Detail: fmt.Sprintf(
				"subject %q: its latest version %d holds %s where the producer's %s sits, so frames under it would be misread",
				subject, latest.Version, there, md.FullName())}
	}
	return latest.ID, nil
}

// SchemaOf is a file as the registry takes it, its imports as references
// (registered first when register, else their subjects' latest versions).
func (f *Frames) SchemaOf(ctx context.Context, fd protoreflect.FileDescriptor, register bool) (Schema, error) {
	var refs []Reference
	imports := fd.Imports()
	for i := 0; i < imports.Len(); i++ {
		dep := imports.Get(i).FileDescriptor
		if slices.ContainsFunc(builtinPrefixes, func(p string) bool { return strings.HasPrefix(dep.Path(), p) }) {
			continue
		}
		var version int
		if register {
			s, err := f.SchemaOf(ctx, dep, true)
			if err != nil {
				return Schema{}, err
			}
			if _, err := f.client.Register(ctx, dep.Path(), s); err != nil {
				return Schema{}, err
			}
			v, err := f.client.Lookup(ctx, dep.Path(), s)
			if err != nil {
				return Schema{}, err
			}
			version = v.Version
		} else {
			v, err := f.client.Latest(ctx, dep.Path())
			if err != nil {
				return Schema{}, err
			}
			version = v.Version
		}
		refs = append(refs, Reference{Name: dep.Path(), Subject: dep.Path(), Version: version})
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(protodesc.ToFileDescriptorProto(fd))
	if err != nil {
		return Schema{}, err
	}
	return Schema{Schema: base64.StdEncoding.EncodeToString(raw), SchemaType: Protobuf, References: refs}, nil
}

// Decode reads a frame into m. When the frame's id holds another type, the
// registry judges m's file against the id's version in the subject the
// strategy names for topic and m, if the id is registered there, else in every
// subject holding the id, each of which must find it compatible.
func (f *Frames) Decode(ctx context.Context, topic string, frame []byte, m proto.Message) error {
	parts, err := f.opts.Format.Decode(frame)
	if err != nil {
		return err
	}
	id := int(parts.SchemaID)
	fd, err := f.client.FileDescriptor(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return &frames.Error{Kind: frames.ErrUnknownSchemaID, SchemaID: parts.SchemaID, HasID: true,
			Detail: fmt.Sprintf("unknown to the registry at %s: %v", f.client.URL(), err)}
	}
	if err != nil {
		return err
	}
	actual, err := frames.MessageNameAt(fd, parts.Indexes, parts.SchemaID)
	if err != nil {
		return err
	}
	md := m.ProtoReflect().Descriptor()
	if actual != string(md.FullName()) {
		if err := f.requireCompatible(ctx, topic, parts, actual, md); err != nil {
			return err
		}
	}
	if err := proto.Unmarshal(parts.Payload, m); err != nil {
		return &frames.Error{Kind: frames.ErrPayload, SchemaID: parts.SchemaID, HasID: true, Detail: fmt.Sprintf(
			"%d bytes as %s: %v", len(parts.Payload), md.FullName(), err)}
	}
	return nil
}

// requireCompatible passes when the consumer's type is a new version of the
// writer's: at the same place in its file, and the registry finds the
// consumer's file compatible with the writer's version under the subject's mode.
func (f *Frames) requireCompatible(ctx context.Context, topic string, parts frames.Frame, actual string, md protoreflect.MessageDescriptor) error {
	id := int(parts.SchemaID)
	uses, err := f.client.Uses(ctx, id, false)
	if err != nil {
		return err
	}
	if topic != "" || f.opts.Strategy == RecordName {
		own, err := SubjectName(f.opts.Strategy, topic, md.FullName(), f.opts.Key)
		if err != nil {
			return err
		}
		has := func(us []SubjectVersion) bool {
			return slices.ContainsFunc(us, func(u SubjectVersion) bool { return u.Subject == own })
		}
		if !has(uses) { // registered there since?
			if uses, err = f.client.Uses(ctx, id, true); err != nil {
				return err
			}
		}
		if has(uses) {
			uses = slices.DeleteFunc(slices.Clone(uses), func(u SubjectVersion) bool { return u.Subject != own })
		}
	}
	subjects := make([]string, len(uses))
	shown := make([]string, len(uses))
	for i, u := range uses {
		subjects[i] = u.Subject
		shown[i] = fmt.Sprintf("%q version %d", u.Subject, u.Version)
	}
	wrong := func(detail string) error {
		return &frames.Error{Kind: frames.ErrWrongType, SchemaID: parts.SchemaID, HasID: true,
			Expected: string(md.FullName()), Actual: actual, Subjects: subjects, Detail: fmt.Sprintf(
				"(subject %s) holds %s, but the consumer expects %s, %s",
				strings.Join(shown, ", "), actual, md.FullName(), detail)}
	}
	if own := frames.MessageIndexes(md); !slices.Equal(own, parts.Indexes) {
		return wrong(fmt.Sprintf("which sits elsewhere in its file (path %v, the frame's %v), so it is another message, not a new version of it",
			own, parts.Indexes))
	}
	s, err := f.SchemaOf(ctx, md.ParentFile(), false)
	if err != nil {
		return err
	}
	var reasons []string
	for _, u := range uses {
		verdict, err := f.client.CheckCompatibility(ctx, u.Subject, versionText(u.Version), s)
		if err != nil {
			return err
		}
		if verdict.IsCompatible {
			continue
		}
		mode, err := f.client.CompatibilityLevel(ctx, u.Subject)
		if err != nil {
			return err
		}
		listed := verdict.Messages
		more := ""
		if len(listed) > 3 {
			more = fmt.Sprintf(" (and %d more)", len(listed)-3)
			listed = listed[:3]
		}
		reason := strings.Join(listed, "; ")
		if reason == "" {
			reason = "no differences listed"
		}
		reasons = append(reasons, fmt.Sprintf("%s is %s: %s%s", u.Subject, mode, reason, more))
	}
	if len(uses) > 0 && len(reasons) == 0 {
		return nil
	}
	if len(reasons) == 0 {
		reasons = []string{"the id has no subject"}
	}
	return wrong(fmt.Sprintf("and the consumer's file %s is not compatible with it under the subject's mode (%s)",
		md.ParentFile().Path(), strings.Join(reasons, " | ")))
}
