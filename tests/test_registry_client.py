"""contracts_runtime's registry client and typed frames against our registry as a real
process: every lookup, its caches and their bound, auth headers, timeouts, errors naming
the URL, id and subject; encoding that registers or looks up ids as Confluent's
serializer does (same id, same bytes), and decoding that refuses another message type
unless the registry finds it compatible under the subject's mode."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from contracts_runtime import frames
from contracts_runtime.lru import LruCache
from contracts_runtime.registry_client import (
    BasicAuth,
    BearerAuth,
    NotFoundError,
    RegistryClient,
    RegistryError,
    SchemaText,
    UnreachableError,
)
from contracts_runtime.registry_frames import (
    IdChoice,
    RegistryFrames,
    SubjectStrategy,
    subject_name,
)
from fleet.tasks.v1 import envelope_pb2, task_payloads_pb2
from frame_vectors import has_map, vectors
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from registry_process import RegistryProcess, free_port, running_registry

PROTO_A = 'syntax = "proto3";\npackage t;\nmessage A { string x = 1; }\n'
PROTO_A2 = 'syntax = "proto3";\npackage t;\nmessage A { string x = 1; int32 y = 2; }\n'
PROTO_BAD = 'syntax = "proto3";\npackage t;\nmessage A { int64 x = 1; }\n'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    with running_registry(tmp_path_factory.mktemp("registry") / "store.db") as s:
        yield s


def _client(server: RegistryProcess, **kwargs: object) -> RegistryClient:
    return RegistryClient(server.url, timeout=20, **kwargs)  # type: ignore[arg-type]


def test_client_reads_what_the_registry_holds(server: RegistryProcess) -> None:
    client = _client(server)
    first = client.register("client-a-value", SchemaText(PROTO_A))
    second = client.register("client-a-value", SchemaText(PROTO_A2))
    assert client.register("client-a-value", SchemaText(PROTO_A)) == first  # same schema, same id
    assert client.schema(first).schema.schema == PROTO_A
    file = client.file_descriptor(first)
    assert (file.package, [m.name for m in file.message_type]) == ("t", ["A"])
    assert [(u.subject, u.version) for u in client.uses(second)] == [("client-a-value", 2)]
    latest = client.latest("client-a-value")
    assert (latest.version, latest.schema_id) == (2, second)
    assert client.lookup("client-a-value", SchemaText(PROTO_A)).version == 1
    assert client.compatibility_level("client-a-value") == "BACKWARD"  # the global default
    good = client.check_compatibility("client-a-value", "latest", SchemaText(PROTO_A2))
    assert good.is_compatible and good.messages == ()
    bad = client.check_compatibility("client-a-value", 1, SchemaText(PROTO_BAD))
    assert not bad.is_compatible and "FIELD_SCALAR_KIND_CHANGED" in bad.messages[0]


def test_answers_are_cached_within_the_bound(server: RegistryProcess) -> None:
    seed = _client(server)
    ids = [
        seed.register(f"bound-{n}-value", SchemaText(PROTO_A.replace("A", f"A{n}")))
        for n in range(4)
    ]
    client = _client(server, cache_size=2)
    client.file_descriptor(ids[0])
    sent = client.requests
    for _ in range(50):
        client.file_descriptor(ids[0])
        client.schema(ids[0], serialized=True)
    assert client.requests == sent  # answered from the cache
    for schema_id in ids:
        client.file_descriptor(schema_id)
    assert len(client._files) == 2 and client._files.evictions == 2  # the bound holds
    sent = client.requests
    client.file_descriptor(ids[0])  # evicted: asked again
    assert client.requests == sent + 1
    uncached = _client(server, cache_size=0)
    uncached.schema(ids[1])
    uncached.schema(ids[1])
    assert uncached.requests == 2


def test_mutable_answers_expire_after_the_ttl() -> None:
    now = [0.0]
    cache: LruCache[str, int] = LruCache(10, ttl=5, clock=lambda: now[0])
    cache.put("latest", 1)
    now[0] = 4.9
    assert cache.get("latest") == 1
    now[0] = 5.0
    assert cache.get("latest") is None and len(cache) == 0
    with pytest.raises(ValueError, match="ttl must be above 0"):
        LruCache(1, ttl=0)
    with pytest.raises(ValueError, match="max_entries must be 0 or more"):
        LruCache(-1)


def test_errors_name_the_url_and_what_was_missing(server: RegistryProcess) -> None:
    client = _client(server)
    with pytest.raises(NotFoundError) as unknown_id:
        client.schema(987654)
    assert unknown_id.value.error_code == 40403 and unknown_id.value.status == 404
    assert f"GET {server.url}/schemas/ids/987654" in str(unknown_id.value)
    with pytest.raises(NotFoundError) as unknown_subject:
        client.latest("no/such-subject")
    assert unknown_subject.value.error_code == 40401
    assert "/subjects/no%2Fsuch-subject/versions/latest" in str(unknown_subject.value)
    with pytest.raises(RegistryError) as invalid:
        client.register("broken-value", SchemaText("message {"))
    assert invalid.value.error_code == 42201 and "HTTP 422" in str(invalid.value)
    port = free_port()
    with pytest.raises(UnreachableError, match=rf"127.0.0.1:{port}/schemas/ids/1: no answer"):
        RegistryClient(f"http://127.0.0.1:{port}", timeout=2).schema(1)
    with pytest.raises(ValueError, match="must be http:// or https://"):
        RegistryClient("ftp://registry")
    with pytest.raises(ValueError, match="not in the URL"):
        RegistryClient("http://user:secret@registry:8081")
    with pytest.raises(ValueError, match="above 0 seconds"):
        RegistryClient("http://registry", timeout=0)


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers Confluent's config body after `delay` seconds, recording each header."""

    seen: ClassVar[list[str | None]] = []
    delay = 0.0

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        time.sleep(self.delay)
        body = json.dumps({"compatibilityLevel": "FULL"}).encode()
        with contextlib.suppress(OSError):  # the client may have given up
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _recording_server(delay: float) -> Iterator[str]:
    handler = type("Handler", (_Recorder,), {"seen": [], "delay": delay})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
    _Recorder.seen = handler.seen


def test_basic_and_bearer_auth_and_the_timeout() -> None:
    with _recording_server(delay=0) as url:
        RegistryClient(url, auth=BasicAuth("svc", "pa:ss")).compatibility_level("s")
        RegistryClient(url, auth=BearerAuth("tok-1")).compatibility_level("s")
        RegistryClient(url).compatibility_level("s")
    assert _Recorder.seen == ["Basic c3ZjOnBhOnNz", "Bearer tok-1", None]
    with _recording_server(delay=3) as url:
        started = time.monotonic()
        with pytest.raises(UnreachableError, match=r"/config/s\?defaultToGlobal=true: no answer"):
            RegistryClient(url, timeout=0.3).compatibility_level("s")
        assert time.monotonic() - started < 2.5


def test_subject_strategies_name_subjects_as_confluent_does() -> None:
    name = "fleet.tasks.v1.TaskEnvelope"
    assert subject_name(SubjectStrategy.TOPIC_NAME, "tasks", name) == "tasks-value"
    assert subject_name(SubjectStrategy.TOPIC_NAME, "tasks", name, key=True) == "tasks-key"
    assert subject_name(SubjectStrategy.RECORD_NAME, "", name) == name
    assert subject_name(SubjectStrategy.TOPIC_RECORD_NAME, "tasks", name) == f"tasks-{name}"
    with pytest.raises(ValueError, match="topic_name needs a topic"):
        subject_name(SubjectStrategy.TOPIC_NAME, "", name)


def test_encoder_gets_confluents_ids_and_bytes(server: RegistryProcess) -> None:
    """Our encoder registers as confluent-kafka's ProtobufSerializer does: the same id
    from our registry and the same bytes, every contract message; each reads the other's."""
    confluent = SchemaRegistryClient({"url": server.url})
    codec = RegistryFrames(_client(server), strategy=SubjectStrategy.RECORD_NAME)
    conf = {"use.deprecated.format": False, "subject.name.strategy": _record_name}
    for v in vectors():
        if v.name.endswith(".1"):
            continue
        cls = type(v.message)
        ctx = SerializationContext("frames", MessageField.VALUE)
        theirs = ProtobufSerializer(cls, confluent, conf)(v.message, ctx)
        ours = codec.encode(v.message)
        assert theirs is not None and ours[:5] == theirs[:5], v.name  # the same id
        assert codec.decode(theirs, cls) == v.message
        assert ProtobufDeserializer(cls, conf, confluent)(ours, ctx) == v.message
        if not has_map(v.message.DESCRIPTOR):
            assert ours == theirs, v.name


def _record_name(ctx: object, record_name: str) -> str:
    return record_name


def test_decoder_refuses_another_type_naming_id_subject_and_types(
    server: RegistryProcess,
) -> None:
    codec = RegistryFrames(_client(server))
    frame = codec.encode(envelope_pb2.TraceContext(traceparent="00-ab"), "traces")
    assert codec.decode(frame, envelope_pb2.TraceContext).traceparent == "00-ab"
    schema_id = frames.decode(frame).schema_id
    with pytest.raises(frames.WrongMessageTypeError) as caught:
        codec.decode(frame, envelope_pb2.TaskEnvelope)
    err = caught.value
    # The module's registry also holds envelope.proto under the earlier tests' subjects.
    assert err.schema_id == schema_id and "traces-value" in err.subjects
    assert (err.expected, err.actual) == (
        "fleet.tasks.v1.TaskEnvelope",
        "fleet.tasks.v1.TraceContext",
    )
    assert f"schema id {schema_id} (subject " in str(err)
    assert "'traces-value' version 1" in str(err)
    assert "sits elsewhere in its file (path [0], the frame's [1])" in str(err)

    # Confluent's deprecated index format (plain varints), agreed on both sides.
    deprecated = RegistryFrames(_client(server), zigzag=False)
    old_format = deprecated.encode(envelope_pb2.TraceContext(traceparent="00-ab"), "traces")
    assert old_format == frame[:5] + b"\x01\x01" + frame[7:] and frame[5:7] == b"\x02\x02"
    assert deprecated.decode(old_format, envelope_pb2.TraceContext).traceparent == "00-ab"

    unknown = frames.encode(b"", 4_000_000, [0])
    with pytest.raises(frames.UnknownSchemaIdError) as missing:
        codec.decode(unknown, envelope_pb2.TaskEnvelope)
    assert f"schema id 4000000 is unknown to the registry at {server.url}" in str(missing.value)
    assert "40403" in str(missing.value) and missing.value.schema_id == 4_000_000
    out_of_range = frames.encode(b"", schema_id, [7])
    with pytest.raises(frames.IndexOutOfRangeError, match=r"envelope\.proto has 2 message"):
        codec.decode(out_of_range, envelope_pb2.TraceContext)


def _renamed(package: str, name: str) -> type[Message]:
    """package <package>; message <name> { string a = 1; } in a file of its own."""
    proto = descriptor_pb2.FileDescriptorProto(
        name=f"{package}/{name.lower()}.proto", package=package, syntax="proto3"
    )
    message = proto.message_type.add(name=name)
    message.field.add(
        name="a",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        json_name="a",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))


def test_another_type_passes_only_when_the_registry_finds_it_compatible(
    server: RegistryProcess,
) -> None:
    """A renamed message at the same place reads under a subject whose mode allows it
    (NONE), is refused under BACKWARD with the registry's differences, and the verdict
    is cached. One id under both subjects: the consumer's topic picks the subject; without
    it, every subject holding the id must agree."""
    old, new = _renamed("shop.v1", "Order"), _renamed("shop.v1", "Purchase")
    client = _client(server)
    codec = RegistryFrames(client)
    server.request("PUT", "/config/orders-none-value", {"compatibility": "NONE"})
    server.request("PUT", "/config/orders-backward-value", {"compatibility": "BACKWARD"})
    frame = codec.encode(old(a="x"), "orders-none")
    assert codec.decode(frame, new).a == "x"  # type: ignore[attr-defined]
    sent = client.requests
    assert codec.decode(frame, new, "orders-none").a == "x"  # type: ignore[attr-defined]
    assert client.requests == sent  # the verdict came from the cache

    assert codec.encode(old(a="x"), "orders-backward") == frame  # the same schema, one id
    assert codec.decode(frame, new, "orders-none").a == "x"  # type: ignore[attr-defined]
    client.clear()  # the id's subjects are cached for the ttl; without a topic, ask again
    for topic in ("orders-backward", ""):
        with pytest.raises(frames.WrongMessageTypeError) as caught:
            codec.decode(frame, new, topic)
        text = str(caught.value)
        assert "holds shop.v1.Order, but the consumer expects shop.v1.Purchase" in text
        assert "'orders-backward-value' version 1" in text and "is BACKWARD:" in text
        assert "MESSAGE_REMOVED" in text and "orders-backward-value" in caught.value.subjects
        assert "orders-none-value is" not in text  # the subject that agreed is not blamed


def test_use_latest_and_lookup_never_register(server: RegistryProcess) -> None:
    client = _client(server)
    payloads = task_payloads_pb2.SendNotificationTask(recipient="ops@example.com")
    lookup = RegistryFrames(client, id_choice=IdChoice.LOOKUP)
    with pytest.raises(RegistryError, match="not registered under subject 'notify-value'"):
        lookup.encode(payloads, "notify")
    registered = RegistryFrames(client).encode(payloads, "notify")
    assert lookup.encode(payloads, "notify") == registered
    latest = RegistryFrames(client, id_choice=IdChoice.USE_LATEST)
    assert latest.encode(payloads, "notify") == registered
    # The subject's latest file holds GenerateReportTask where TaskEnvelope would sit:
    # refused before a frame is written.
    with pytest.raises(frames.WrongMessageTypeError) as caught:
        latest.encode(envelope_pb2.TaskEnvelope(), "notify")
    assert "subject 'notify-value': its latest version 1" in str(caught.value)
    assert "holds fleet.tasks.v1.GenerateReportTask where the producer's" in str(caught.value)
