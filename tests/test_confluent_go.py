"""confluent-kafka-go's schemaregistry client and protobuf serde (tests/confluent_go, its
own Go module) against our registry as a real process, with no Kafka broker, beside
confluent-kafka's Python serde and our runtime in both languages: every contract
message serialized in one language is read in the other, and our frames are
confluent-kafka-go's and confluent-kafka's bytes for the same id and message."""

from __future__ import annotations

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
from google.protobuf.descriptor import FileDescriptor
from registry_process import RegistryProcess, running_registry

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
