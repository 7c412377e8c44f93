"""Confluent's own Python client (confluent-kafka from PyPI) against our registry,
unchanged: references, lookups by id, and a serializer/deserializer round trip of a
generated message, on each store. No Kafka broker: the serde is called directly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import (
    ConfigCompatibilityLevel,
    Schema,
    SchemaReference,
    SchemaRegistryClient,
    ServerConfig,
)
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from conftest import REPO
from fleet.tasks.v1 import envelope_pb2, task_payloads_pb2
from registry_process import STORES, RegistryProcess, new_store, running_registry

CONTRACTS = REPO / "contracts"
PAYLOADS = "fleet/tasks/v1/task_payloads.proto"
ENVELOPE = "fleet/tasks/v1/envelope.proto"


@pytest.fixture(params=STORES)
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RegistryProcess]:
    with running_registry(new_store(request.param, tmp_path, request)) as s:
        yield s


@pytest.fixture
def client(server: RegistryProcess) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": server.url})


def test_client_registers_proto_text_with_a_reference(
    client: SchemaRegistryClient, server: RegistryProcess
) -> None:
    payloads = Schema((CONTRACTS / PAYLOADS).read_text(), "PROTOBUF")
    payloads_id = client.register_schema(PAYLOADS, payloads)
    version = client.lookup_schema(PAYLOADS, payloads).version
    envelope = Schema(
        (CONTRACTS / ENVELOPE).read_text(),
        "PROTOBUF",
        [SchemaReference(PAYLOADS, PAYLOADS, version)],
    )
    envelope_id = client.register_schema("tasks-value", envelope)
    assert envelope_id != payloads_id

    fetched = client.get_schema(envelope_id)
    assert fetched.schema_str == envelope.schema_str
    assert [(r.name, r.subject, r.version) for r in fetched.references] == [
        (PAYLOADS, PAYLOADS, version)
    ]
    latest = client.get_latest_version("tasks-value")
    assert (latest.schema_id, latest.version) == (envelope_id, 1)
    assert client.get_subjects() == sorted([PAYLOADS, "tasks-value"])
    assert client.get_versions("tasks-value") == [1]

    # Our errors reach the client as Confluent's codes.
    with pytest.raises(SchemaRegistryError) as missing:
        client.get_latest_version("no-such-subject")
    assert missing.value.error_code == 40401
    broken = Schema('syntax = "proto3";\nmessage M { int32 x = 1 }\n', "PROTOBUF")
    with pytest.raises(SchemaRegistryError) as invalid:
        client.register_schema("broken-value", broken)
    assert invalid.value.error_code == 42201 and "2:25" in invalid.value.error_message


def test_serializer_and_deserializer_round_trip_through_our_registry(
    client: SchemaRegistryClient, server: RegistryProcess
) -> None:
    # The client refuses use.deprecated.format=True since 2.x ("no longer supported").
    conf = {"use.deprecated.format": False}
    serializer = ProtobufSerializer(envelope_pb2.TaskEnvelope, client, conf)
    deserializer = ProtobufDeserializer(envelope_pb2.TaskEnvelope, conf, client)
    message = envelope_pb2.TaskEnvelope(
        task_id="t-1",
        attempt=2,
        generate_report=task_payloads_pb2.GenerateReportTask(report_id="r-9"),
    )
    ctx = SerializationContext("tasks", MessageField.VALUE)
    frame = serializer(message, ctx)
    assert frame is not None and frame[0] == 0  # Confluent's magic byte
    schema_id = int.from_bytes(frame[1:5], "big")

    # The serializer registered the envelope and, first, its import as a reference.
    subjects = server.request("GET", "/subjects").body
    assert "tasks-value" in subjects and PAYLOADS in subjects
    registered = server.request("GET", "/subjects/tasks-value/versions/latest").body
    assert registered["id"] == schema_id
    assert [r["name"] for r in registered["references"]] == [PAYLOADS]

    assert deserializer(frame, ctx) == message
    # A second serializer finds the same id (lookup, not a new registration).
    again = ProtobufSerializer(envelope_pb2.TaskEnvelope, client, conf)
    assert again(message, ctx) == frame


def test_second_message_of_a_file_round_trips_by_its_message_index(
    client: SchemaRegistryClient,
) -> None:
    """The deserializer finds the type by the frame's message index in the file
    descriptor our registry serves (`format=serialized`)."""
    conf = {"use.deprecated.format": False}
    serializer = ProtobufSerializer(task_payloads_pb2.SendNotificationTask, client, conf)
    deserializer = ProtobufDeserializer(task_payloads_pb2.SendNotificationTask, conf, client)
    message = task_payloads_pb2.SendNotificationTask(recipient="ops@example.com")
    ctx = SerializationContext("notifications", MessageField.VALUE)
    frame = serializer(message, ctx)
    assert frame is not None and frame[5:7] == bytes([2, 2])  # zigzag: one index, index 1
    assert deserializer(frame, ctx) == message


def test_client_modes_config_and_listings(
    client: SchemaRegistryClient, server: RegistryProcess
) -> None:
    """The client's mode, config and listing calls, as it sends them."""
    payloads = Schema((CONTRACTS / PAYLOADS).read_text(), "PROTOBUF")
    payloads_id = client.register_schema(PAYLOADS, payloads)

    assert client.get_global_mode() == "READWRITE"
    assert client.update_mode(PAYLOADS, "READONLY") == "READONLY"
    assert client.get_mode(PAYLOADS) == "READONLY"
    with pytest.raises(SchemaRegistryError) as refused:
        client.delete_version(PAYLOADS, 1)
    assert refused.value.error_code == 42205
    assert client.delete_mode(PAYLOADS) == "READONLY"
    with pytest.raises(SchemaRegistryError) as unset:
        client.get_mode(PAYLOADS)
    assert unset.value.error_code == 40409
    with pytest.raises(SchemaRegistryError) as busy:
        client.update_global_mode("IMPORT")
    assert busy.value.error_code == 42205
    assert client.update_global_mode("IMPORT", force=True) == "IMPORT"
    assert client.update_global_mode("READWRITE") == "READWRITE"

    client.set_config(PAYLOADS, ServerConfig(compatibility=ConfigCompatibilityLevel.NONE))
    assert client.get_config(PAYLOADS).compatibility_level == ConfigCompatibilityLevel.NONE
    deleted = client.delete_config(PAYLOADS)
    assert deleted.compatibility_level == ConfigCompatibilityLevel.NONE
    with pytest.raises(SchemaRegistryError) as gone:
        client.get_config(PAYLOADS)
    assert gone.value.error_code == 40408

    assert client.get_subjects(subject_prefix="fleet/") == [PAYLOADS]
    assert client.get_subjects(subject_prefix="nothing-") == []
    assert client.get_subjects_by_schema_id(payloads_id) == [PAYLOADS]
    assert client.get_version(PAYLOADS, 1).schema_id == payloads_id
    assert client.get_contexts() == ["."]
