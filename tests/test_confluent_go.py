"""confluent-kafka-go's schemaregistry client and protobuf serde (tests/confluent_go, its
own Go module) against our registry as a real process, with no Kafka broker, beside
confluent-kafka's Python serde and our runtime in both languages: every contract
message serialized in one language is read in the other, and our frames are
confluent-kafka-go's and confluent-kafka's bytes for the same id and message."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from conftest import REPO, run_go
from contracts_runtime import frames
from contracts_runtime.registry_client import RegistryClient
from contracts_runtime.registry_frames import IdChoice, RegistryFrames, SubjectStrategy
from frame_vectors import VECTORS, has_map, vectors
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf.descriptor import FileDescriptor
from registry_process import RegistryProcess, running_registry

from compat_checks.registry.compiler import compile_schema

MODULE = REPO / "tests/confluent_go"
CONTRACTS = REPO / "contracts"
BUILTIN = "google/protobuf/"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RegistryProcess]:
    with running_registry(tmp_path / "store.db") as s:
        yield s


def _register_text(client: SchemaRegistryClient, subject: str, file: FileDescriptor) -> None:
    """Registers a contract file's .proto source under `subject`, its imports first
    (each under its own path), as a team registering its sources would."""
    refs = []
    for dep in file.dependencies:
        if dep.name.startswith(BUILTIN):
            continue
        _register_text(client, dep.name, dep)
        version = client.get_latest_version(dep.name).version
        refs.append(SchemaReference(dep.name, dep.name, version))
    text = (CONTRACTS / file.name).read_text(encoding="utf-8")
    client.register_schema(subject, Schema(text, "PROTOBUF", refs))


def test_confluent_go_and_python_read_each_others_frames(
    server: RegistryProcess, tmp_path: Path
) -> None:
    confluent = SchemaRegistryClient({"url": server.url})
    ours_client = RegistryClient(server.url, timeout=30)
    ours = RegistryFrames(ours_client, strategy=SubjectStrategy.RECORD_NAME)
    ours_latest = RegistryFrames(ours_client, id_choice=IdChoice.USE_LATEST)
    ctx = SerializationContext("frames", MessageField.VALUE)
    py_dir, go_dir = tmp_path / "py", tmp_path / "go"
    py_dir.mkdir()
    go_dir.mkdir()
    samples = vectors()

    # Python writes: confluent-kafka's serializer with the latest version of a subject
    # holding the .proto text (what confluent-kafka-go's deserializer parses), and our
    # runtime registering its own way.
    conf = {"auto.register.schemas": False, "use.latest.version": True}
    for v in samples:
        topic = f"py-{v.message.DESCRIPTOR.full_name}"
        _register_text(confluent, f"{topic}-value", v.message.DESCRIPTOR.file)
        ctx = SerializationContext(topic, MessageField.VALUE)
        theirs = ProtobufSerializer(type(v.message), confluent, conf)(v.message, ctx)
        assert theirs is not None
        mine = ours_latest.encode(v.message, topic)
        assert mine[:5] == theirs[:5], v.name  # the same id
        if not has_map(v.message.DESCRIPTOR):
            assert mine == theirs, v.name
        (py_dir / f"{v.name}.bin").write_bytes(theirs)
        (py_dir / f"ours-{v.name}.bin").write_bytes(ours.encode(v.message))
        # confluent-kafka's serializer registering on its own: base64 descriptors, its
        # imports first as references; the registry answers them as .proto text.
        auto_ctx = SerializationContext(f"py-auto-{v.message.DESCRIPTOR.full_name}", ctx.field)
        auto = ProtobufSerializer(type(v.message), confluent, {"use.deprecated.format": False})
        auto_frame = auto(v.message, auto_ctx)
        assert auto_frame is not None
        (py_dir / f"auto-{v.name}.bin").write_bytes(auto_frame)

    env = {
        "REGISTRY_URL": server.url,
        "FRAMES_VECTORS": str(VECTORS),
        "FRAMES_PY": str(py_dir),
        "FRAMES_OUT": str(go_dir),
        "CGO_ENABLED": "1",  # the serde imports confluent-kafka-go's kafka package (librdkafka)
    }
    result = run_go(MODULE, "test", "-count=1", "-v", "-timeout=300s", ".", timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    passed = {line.split()[2] for line in result.stdout.splitlines() if "--- PASS" in line}
    assert "confluent-go reads Python's auto-frame" not in result.stdout
    assert "TestOurFramesAreConfluentGoFrames" in passed
    assert "TestConfluentGoAgainstOurRegistry" in passed
    assert {f"TestConfluentGoAgainstOurRegistry/{v.name}" for v in samples} <= passed

    # Python reads what Go wrote: confluent-kafka-go's frames and our Go runtime's. A
    # client of its own: confluent-kafka keeps a registration's answer (.proto text) as
    # the id's schema, whatever format its deserializer later asks for, and Go's text
    # of a file is the same schema, with the same id, as Python's.
    reader = SchemaRegistryClient({"url": server.url})
    for v in samples:
        cls = type(v.message)
        deserializer = ProtobufDeserializer(cls, {"use.deprecated.format": False}, reader)
        for name in (v.name, f"ours-{v.name}"):
            frame = (go_dir / f"{name}.bin").read_bytes()
            assert deserializer(frame, ctx) == v.message, name
            assert ours.decode(frame, cls) == v.message, name
        # A client with nothing cached reads the base64-registered frames: the id's
        # schema is .proto text, its descriptor comes as `format=serialized`.
        auto_frame = (py_dir / f"auto-{v.name}.bin").read_bytes()
        fresh = SchemaRegistryClient({"url": server.url})
        auto_id = frames.decode(auto_frame).schema_id
        assert fresh.get_schema(auto_id).schema_str.startswith(("syntax = ", "edition = "))
        fresh_deserializer = ProtobufDeserializer(cls, {"use.deprecated.format": False}, fresh)
        assert fresh_deserializer(auto_frame, ctx) == v.message, v.name
        # The same file registered as text and as base64: one id, as Confluent keys
        # a schema by its canonical text.
        assert auto_id == frames.decode((py_dir / f"{v.name}.bin").read_bytes()).schema_id
        # Go and Python register a file the same way: one id for both runtimes.
        go_id = frames.decode((go_dir / f"ours-{v.name}.bin").read_bytes()).schema_id
        py_id = frames.decode((py_dir / f"ours-{v.name}.bin").read_bytes()).schema_id
        assert go_id == py_id, v.name
    assert len(samples) == 33


PROTO_TEXT = REPO / "tests/fixtures/proto_text"
# Fixture files in registration order (imports first), each with its imports, and
# the messages framed from them, as text format.
TEXT_FILES = {
    "opts/v1/annotations.proto": [],
    "shop/v1/shop.proto": ["opts/v1/annotations.proto"],
    "legacy/v1/weak.proto": [],
    "legacy/v1/legacy.proto": ["legacy/v1/weak.proto"],
}
TEXT_MESSAGES = {
    "shop.v1.Order": (
        'order_id: "o-1" counts { key: "a" value: 3 } lines { sku: "s-1" quantity: 2 '
        'children { key: "k" value { sku: "s-2" } } } states { key: 1 value: STATUS_DONE } '
        'note: "n" voucher: 7 created_at { seconds: 1700000000 } status: STATUS_OPEN '
        'packed_off: [1, 2] weights: [0.5] blobs { key: 9 value: "\\001" } '
        'phone { value: "+1" } raw: "" store: "st"'
    ),
    "legacy.v1.Base": (
        'id: 1 name: "x" result { url: "u" snippet { text: "t" } } '
        'children { key: "c" value { id: 2 } } inline { z: 3 } packed_nums: [4, 5]'
    ),
}


def test_confluent_go_reads_frames_of_base64_registered_fixture_schemas(
    server: RegistryProcess, tmp_path: Path
) -> None:
    """confluent-kafka-go parses the .proto text our registry renders from base64
    descriptors: custom options of every kind, maps, oneofs, proto3 optional, proto2
    groups, defaults, extensions and weak imports."""
    compiled: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    ids: dict[str, int] = {}
    for path, imports in TEXT_FILES.items():
        deps = [compiled[i] for i in imports]
        root, built = compile_schema((PROTO_TEXT / path).read_text(encoding="utf-8"), deps, path)
        for file in built.file:
            file.ClearField("source_code_info")
            compiled.setdefault(file.name, file)
        refs = [{"name": i, "subject": i, "version": 1} for i in imports]
        schema = base64.b64encode(compiled[root].SerializeToString()).decode("ascii")
        body = {"schemaType": "PROTOBUF", "schema": schema, "references": refs}
        answer = server.request("POST", f"/subjects/{path.replace('/', '%2F')}/versions", body)
        assert answer.status == 200, answer.text
        ids[path] = answer.body["id"]
        text = server.request("GET", f"/schemas/ids/{ids[path]}").body["schema"]
        assert text.startswith('syntax = "proto'), text[:80]

    pool = descriptor_pool.DescriptorPool()
    for file in compiled.values():  # imports before importers: insertion order
        pool.Add(file)
    cases = []
    for full_name, text in TEXT_MESSAGES.items():
        kind = pool.FindMessageTypeByName(full_name)
        message = text_format.Parse(text, message_factory.GetMessageClass(kind)())
        payload = message.SerializeToString()
        index = list(kind.file.message_types_by_name).index(kind.name)  # top-level
        frame = frames.encode(payload, ids[kind.file.name], [index])
        (tmp_path / f"{full_name}.bin").write_bytes(frame)
        (tmp_path / f"{full_name}.payload").write_bytes(payload)
        topic = f"text-{full_name}"
        cases.append(
            {
                "topic": topic,
                "message": full_name,
                "frame": f"{full_name}.bin",
                "payload": f"{full_name}.payload",
            }
        )
    files = descriptor_pb2.FileDescriptorSet(file=list(compiled.values()))
    (tmp_path / "files.binpb").write_bytes(files.SerializeToString())
    (tmp_path / "cases.json").write_text(json.dumps(cases), encoding="utf-8")

    env = {"REGISTRY_URL": server.url, "PROTO_TEXT_CASES": str(tmp_path), "CGO_ENABLED": "1"}
    result = run_go(
        MODULE,
        "test",
        "-count=1",
        "-v",
        "-run=TestConfluentGoParsesRenderedText",
        "-timeout=300s",
        ".",
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    passed = {line.split()[2] for line in result.stdout.splitlines() if "--- PASS" in line}
    assert {f"TestConfluentGoParsesRenderedText/{m}" for m in TEXT_MESSAGES} <= passed
