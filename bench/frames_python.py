"""Frame encode + decode per second in Python: ours against confluent-kafka's serde.

    .venv/bin/python bench/frames_python.py [--seconds 2]

One message, `fleet.tasks.v1.TaskEnvelope` as the golden vectors fill it (every
field set, a oneof member, two timestamps). Ours: `frames.encode_message` then
`frames.decode_message` with a dict resolver. Theirs: `ProtobufSerializer` then
`ProtobufDeserializer` against confluent-kafka's in-process mock registry (the
schema registered once, before timing). Both parse the message bytes into a new
object; both print the round trips per second and the ratio.

A second row does the same through our registry as a real process (`contracts registry
serve`, started here): ours is `RegistryFrames` on the cached `RegistryClient`
(`encode` finds the id, `decode` checks the type by the registry's file), theirs the same
serializer and deserializer on confluent-kafka's `SchemaRegistryClient`; both warmed by
one round trip, so the rows measure the cached paths.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from contracts_runtime import frames
from contracts_runtime.registry_client import RegistryClient
from contracts_runtime.registry_frames import RegistryFrames

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from frame_vectors import vectors
from registry_process import running_registry


def rate(round_trip: Callable[[], object], seconds: float) -> float:
    done = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            round_trip()
        done += 200
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    sample = next(v for v in vectors() if v.name == "fleet.tasks.v1.TaskEnvelope.0")
    cls = type(sample.message)
    resolver = {sample.schema_id: sample.file}.get

    def ours() -> object:
        frame = frames.encode_message(sample.message, sample.schema_id)
        return frames.decode_message(frame, cls, resolver)

    client = SchemaRegistryClient.new_client({"url": "mock://bench"})
    ctx = SerializationContext("bench", MessageField.VALUE)
    serializer = ProtobufSerializer(cls, client)
    deserializer = ProtobufDeserializer(cls, conf=None, schema_registry_client=client)

    def theirs() -> object:
        return deserializer(serializer(sample.message, ctx), ctx)

    assert ours() == theirs() == sample.message
    print(f"{'round trips/s':<36}{'ours':>12}{'confluent-kafka':>18}{'ratio':>8}")
    a, b = rate(ours, args.seconds), rate(theirs, args.seconds)
    print(f"{'TaskEnvelope encode+decode':<36}{a:>12,.0f}{b:>18,.0f}{a / b:>7.1f}x")

    with tempfile.TemporaryDirectory() as tmp, running_registry(Path(tmp) / "store.db") as s:
        codec = RegistryFrames(RegistryClient(s.url, timeout=60))
        remote = SchemaRegistryClient({"url": s.url})
        serializer = ProtobufSerializer(cls, remote)
        deserializer = ProtobufDeserializer(cls, conf=None, schema_registry_client=remote)

        def ours_registry() -> object:
            return codec.decode(codec.encode(sample.message, "bench"), cls)

        def theirs_registry() -> object:
            return deserializer(serializer(sample.message, ctx), ctx)

        assert ours_registry() == theirs_registry() == sample.message
        a, b = rate(ours_registry, args.seconds), rate(theirs_registry, args.seconds)
    print(f"{'same, through our registry (cached)':<36}{a:>12,.0f}{b:>18,.0f}{a / b:>7.1f}x")


if __name__ == "__main__":
    main()
