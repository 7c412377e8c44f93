"""Confluent's Protobuf wire format (contracts_runtime.frames, runtime/go/frames):
bytes and errors, golden vectors for every contract message read and written by both
languages, and byte equality with confluent-kafka's own ProtobufSerializer."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.common.serde import SchemaId
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from conftest import REPO, run_bounded, run_go
from contracts_runtime import frames
from fleet.tasks.v1 import envelope_pb2
from frame_vectors import VECTORS, Vector, has_map, schema_ids, vectors, write
from google.protobuf import descriptor_pb2, descriptor_pool, json_format
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.message_factory import GetMessageClass

GO_RUNTIME = REPO / "runtime/go"


def _nested_file() -> FileDescriptor:
    """package n; message A {} message B { message C {} message D { message E {} } }"""
    proto = descriptor_pb2.FileDescriptorProto(name="n.proto", package="n", syntax="proto3")
    proto.message_type.add(name="A")
    b = proto.message_type.add(name="B")
    b.nested_type.add(name="C")
    b.nested_type.add(name="D").nested_type.add(name="E")
    return descriptor_pool.DescriptorPool().Add(proto)  # type: ignore[no-any-return]


def _e(file: FileDescriptor) -> Descriptor:
    return file.message_types_by_name["B"].nested_types_by_name["D"].nested_types_by_name["E"]


@pytest.mark.parametrize(
    ("path", "current", "deprecated"),
    [
        ((0,), [0], [0]),
        ((1,), [2, 2], [1, 1]),
        ((1, 1, 0), [6, 2, 2, 0], [3, 1, 1, 0]),
        ((64,), [2, 0x80, 0x01], [1, 64]),
    ],
)
def test_index_bytes_in_both_formats(
    path: tuple[int, ...], current: list[int], deprecated: list[int]
) -> None:
    head = bytes([0, 0, 0, 1, 2])  # magic byte, schema id 258 big-endian
    for zigzag, want in ((True, current), (False, deprecated)):
        frame = frames.encode(b"\x08\x01", 258, path, zigzag=zigzag)
        assert frame == head + bytes(want) + b"\x08\x01"
        assert frames.decode(frame, zigzag=zigzag) == frames.Frame(258, path, b"\x08\x01")


def test_index_path_comes_from_the_descriptor() -> None:
    file = _nested_file()
    assert frames.message_indexes(file.message_types_by_name["A"]) == (0,)
    assert frames.message_indexes(_e(file)) == (1, 1, 0)
    assert frames.message_name_at(file, (1, 1, 0), 9) == "n.B.D.E"
    assert frames.message_indexes(envelope_pb2.TraceContext.DESCRIPTOR) == (1,)


@pytest.mark.parametrize(
    ("frame", "error", "says"),
    [
        (b"\x00\x00\x00", frames.ShortFrameError, "frame of 3 bytes is shorter"),
        (b"\x01\x00\x00\x00\x09\x00", frames.BadMagicByteError, "byte 0x01, not the magic"),
        (b"\x00\x00\x00\x00\x09\x80", frames.BadVarintError, "schema id 9: frame ends inside"),
        (b"\x00\x00\x00\x00\x09" + b"\xff" * 5 + b"\x01", frames.BadVarintError, "longer than 5"),
        (b"\x00\x00\x00\x00\x09\x01", frames.BadVarintError, "count -1 is impossible"),
        (b"\x00\x00\x00\x00\x09\x14\x00", frames.BadVarintError, "count 10 is impossible"),
        (b"\x00\x00\x00\x00\x09\x02\x04", frames.IndexOutOfRangeError, "n.proto has 2 message"),
        (b"\x00\x00\x00\x00\x09\x04\x02\x06", frames.IndexOutOfRangeError, "2 message(s) at B"),
        (b"\x00\x00\x00\x00\x08\x00", frames.UnknownSchemaIdError, "schema id 8 is unknown"),
        (b"\x00\x00\x00\x00\x09\x00\xff", frames.PayloadDecodeError, "does not parse as n.A"),
    ],
)
def test_bad_frames_are_named(frame: bytes, error: type[frames.FrameError], says: str) -> None:
    file = _nested_file()
    a = GetMessageClass(file.message_types_by_name["A"])
    with pytest.raises(error, match=None) as caught:
        frames.decode_message(frame, a, {9: file}.get)
    assert says in str(caught.value)
    assert isinstance(caught.value, frames.FrameError)
    assert caught.value.schema_id == (
        None if error in {frames.ShortFrameError, frames.BadMagicByteError} else int(frame[4])
    )


def test_random_bytes_raise_only_frame_errors() -> None:
    """Corrupted frames (random bytes after a valid header, random flips of valid
    frames) end in a FrameError or a message, never another exception."""
    rng = random.Random(20261129)
    file = _nested_file()
    resolver = {9: file}.get
    good = [frames.encode(b"", 9, path) for path in [(0,), (1,), (1, 0), (1, 1, 0)]]
    outcomes: dict[str, int] = {}
    for _ in range(3000):
        frame = bytearray(rng.choice(good))
        if rng.random() < 0.5:
            frame += rng.randbytes(rng.randrange(0, 12))
        for _ in range(rng.randrange(1, 3)):
            frame[rng.randrange(len(frame))] = rng.randrange(256)
        frame = frame[: rng.randrange(3, len(frame) + 1)]
        expected = GetMessageClass(file.message_types_by_name["A"])
        try:
            frames.decode_message(bytes(frame), expected, resolver)
            outcome = "read"
        except frames.FrameError as exc:
            outcome = type(exc).__name__
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # Each kind of damage was met.
    assert {
        "read",
        "ShortFrameError",
        "BadMagicByteError",
        "BadVarintError",
        "IndexOutOfRangeError",
        "UnknownSchemaIdError",
        "WrongMessageTypeError",
    } <= set(outcomes), outcomes


def test_encode_refuses_what_cannot_be_framed() -> None:
    with pytest.raises(ValueError, match="does not fit in 4 unsigned bytes"):
        frames.encode(b"", 2**32, [0])
    with pytest.raises(ValueError, match="non-empty path"):
        frames.encode(b"", 1, [])
    with pytest.raises(ValueError, match="from 0 to 2147483647"):
        frames.encode(b"", 1, [1, -1])
    top = frames.encode(b"", 1, [2**31 - 1])
    assert frames.decode(top).indexes == (2**31 - 1,)
    schema_id, indexes, payload = frames.decode(frames.encode(b"x", 2**32 - 1, [3]))
    assert (schema_id, indexes, payload) == (2**32 - 1, (3,), b"x")


def test_wrong_message_type_names_the_id_and_both_types() -> None:
    frame = frames.encode_message(envelope_pb2.TraceContext(traceparent="x"), 77)
    resolver = {77: envelope_pb2.DESCRIPTOR}.get
    with pytest.raises(frames.WrongMessageTypeError) as caught:
        frames.decode_message(frame, envelope_pb2.TaskEnvelope, resolver)
    assert caught.value.schema_id == 77
    assert (caught.value.expected, caught.value.actual) == (
        "fleet.tasks.v1.TaskEnvelope",
        "fleet.tasks.v1.TraceContext",
    )
    assert "schema id 77" in str(caught.value)
    assert frames.decode_message(frame, envelope_pb2.TraceContext, resolver).traceparent == "x"


def test_golden_vectors_are_current(tmp_path: Path) -> None:
    """The committed vectors are what the sampler writes today (UPDATE_GOLDEN=1 rewrites)."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        write(VECTORS)
    write(tmp_path)
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in VECTORS.iterdir()}
    assert fresh == committed
    manifest = json.loads((VECTORS / "manifest.json").read_text())
    # Every contract message, and one sample per oneof member.
    messages = {v["message"] for v in manifest}
    every = {
        f"{file.package}.{m.name}"
        for file in schema_ids().values()
        for m in descriptor_pb2.FileDescriptorProto.FromString(file.serialized_pb).message_type
    }
    # The contracts' only nested messages are map entries, which never travel alone.
    assert messages == every and len(messages) == 28 and len(manifest) == 33


def test_go_reads_python_vectors_and_python_reads_go_ones(tmp_path: Path) -> None:
    """Go decodes every Python frame and re-encodes it byte for byte, reads the JSON to
    the same message, and writes its own frame and JSON, which Python reads back here."""
    vet = run_go(GO_RUNTIME, "vet", "./...", timeout=240)
    assert vet.returncode == 0, vet.stderr
    unformatted = run_bounded(["gofmt", "-l", "."], cwd=GO_RUNTIME, timeout=60)
    assert unformatted.returncode == 0 and unformatted.stdout == "", unformatted.stdout
    out = tmp_path / "go"
    out.mkdir()
    env = {"FRAMES_VECTORS": str(VECTORS), "FRAMES_GO_OUT": str(out)}
    result = run_go(
        GO_RUNTIME, "test", "-count=1", "-v", "-timeout=120s", "./...", timeout=240, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    passed = {line.split()[2] for line in result.stdout.splitlines() if "--- PASS" in line}
    assert {"TestIndexesAndBytes", "TestDecodeErrors", "TestWrongTypeNamesBoth"} <= passed
    # runtime/go/registry: the client and typed frames against a registry it starts.
    assert {
        "TestClientReads",
        "TestCacheBound",
        "TestErrorsNameTheURL",
        "TestAuthAndTimeout",
        "TestSubjectNames",
        "TestDecodeRefusesAnotherType",
        "TestAnotherTypePassesOnlyWhenCompatible",
        "TestUseLatestAndLookupNeverRegister",
    } <= passed
    resolver = schema_ids().get
    samples = vectors()
    for v in samples:
        assert f"TestGoldenVectors/{v.name}" in passed
        go_frame = (out / f"{v.name}.bin").read_bytes()
        assert go_frame == v.frame, v.name
        assert frames.decode_message(go_frame, type(v.message), resolver) == v.message
        go_json = (out / f"{v.name}.json").read_text()
        assert json_format.Parse(go_json, type(v.message)()) == v.message, v.name
    assert len(samples) == 33


def _confluent_pair(v: Vector) -> tuple[ProtobufSerializer, ProtobufDeserializer]:
    client = SchemaRegistryClient.new_client({"url": "mock://frames"})
    serializer = ProtobufSerializer(type(v.message), client)
    return serializer, ProtobufDeserializer(type(v.message), {"use.deprecated.format": False})


@pytest.mark.parametrize("v", vectors(), ids=lambda v: v.name)
def test_confluent_serializer_writes_our_bytes(v: Vector) -> None:
    """confluent-kafka's ProtobufSerializer, registering with its MockSchemaRegistryClient,
    frames each sample exactly as we do, and each side reads the other's bytes."""
    serializer, deserializer = _confluent_pair(v)
    ctx = SerializationContext("frames", MessageField.VALUE)
    theirs = serializer(v.message, ctx)
    assert theirs is not None
    schema_id = frames.decode(theirs).schema_id
    message = type(v.message)()
    message.ParseFromString(frames.decode(theirs).payload)
    assert message == v.message
    ours = frames.encode_message(v.message, schema_id)
    # Python's SerializeToString orders map entries as inserted, ours sorts them: the
    # frame header must match exactly, and the message bytes wherever no map is involved.
    assert (
        ours[: len(ours) - len(message.SerializeToString(deterministic=True))]
        == theirs[: len(theirs) - len(message.SerializeToString())]
    )
    if not has_map(v.message.DESCRIPTOR):
        assert ours == theirs
    assert deserializer(ours, ctx) == v.message
    file = v.message.DESCRIPTOR.file
    assert frames.decode_message(theirs, type(v.message), {schema_id: file}.get) == v.message


@pytest.mark.parametrize("path", ["A", "B", "B.C", "B.D", "B.D.E"])
def test_confluent_serializer_agrees_on_nested_messages(path: str) -> None:
    """Nested index paths (the contracts have none but map entries): Confluent's bytes."""
    file = _nested_file()
    descriptor = file.message_types_by_name[path.split(".")[0]]
    for name in path.split(".")[1:]:
        descriptor = descriptor.nested_types_by_name[name]
    cls = GetMessageClass(descriptor)
    client = SchemaRegistryClient.new_client({"url": "mock://frames"})
    ctx = SerializationContext("frames", MessageField.VALUE)
    theirs = ProtobufSerializer(cls, client)(cls(), ctx)
    assert theirs is not None
    schema_id = frames.decode(theirs).schema_id
    assert frames.encode_message(cls(), schema_id) == theirs
    assert frames.decode(theirs).indexes == frames.message_indexes(descriptor)
    assert ProtobufDeserializer(cls)(frames.encode_message(cls(), 5), ctx) == cls()


def test_confluent_deprecated_format_is_refused_and_its_varints_match() -> None:
    """confluent-kafka 2.16 refuses use.deprecated.format; its index writer and reader
    (the code that format used, with zigzag off) agree with ours on both formats."""
    client = SchemaRegistryClient.new_client({"url": "mock://frames"})
    with pytest.raises(ValueError, match="no longer supported"):
        ProtobufSerializer(envelope_pb2.TaskEnvelope, client, {"use.deprecated.format": True})
    import io

    for path in ([0], [1], [1, 1, 0], [64, 3], [300]):
        for zigzag in (True, False):
            buf = io.BytesIO()
            SchemaId._encode_varints(buf, path, zigzag=zigzag)
            ours = frames.encode(b"", 1, path, zigzag=zigzag)[frames.HEADER_SIZE :]
            assert ours == buf.getvalue(), (path, zigzag)
            assert SchemaId._read_index_array(io.BytesIO(ours), zigzag=zigzag) == path


def test_generated_go_never_imports_the_runtime() -> None:
    """generated/go is what `contracts gen` writes; the runtime builds on it, not the reverse."""
    runtime_module = "github.com/fleet-platform/contracts/runtime/go"
    assert (GO_RUNTIME / "go.mod").read_text().startswith(f"module {runtime_module}\n")
    users = [
        str(p.relative_to(REPO))
        for p in (REPO / "generated/go").rglob("*")
        if p.is_file() and runtime_module in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert users == []
