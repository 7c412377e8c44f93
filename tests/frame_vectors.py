"""Golden frame vectors: one deterministic sample of every message in the contracts.

Each sample fills every field: int64 with 2^53 + 1 (which JSON doubles round), strings
with non-ASCII letters, bytes with 0x00 and 0xff, enums with a non-zero value, nested
messages, two elements per repeated field and two entries per map. A message with oneofs
gets one sample per member, so every member travels. Files get fixed schema ids.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO
from contracts_runtime import frames
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

VECTORS = REPO / "tests/fixtures/frames/vectors"
GENERATED = REPO / "generated/python"
FIRST_SCHEMA_ID = 100
_MAX_DEPTH = 3


@dataclass(frozen=True)
class Vector:
    name: str
    message: Message
    file: FileDescriptor
    schema_id: int

    @property
    def frame(self) -> bytes:
        return frames.encode_message(self.message, self.schema_id)

    @property
    def json(self) -> str:
        return json_format.MessageToJson(self.message, indent=2, sort_keys=True) + "\n"


def contract_files() -> list[FileDescriptor]:
    """Every generated fleet file, by path."""
    modules = sorted(GENERATED.glob("fleet/**/*_pb2.py"))
    names = [".".join(p.relative_to(GENERATED).with_suffix("").parts) for p in modules]
    return sorted((importlib.import_module(n).DESCRIPTOR for n in names), key=lambda f: f.name)


def schema_ids() -> dict[int, FileDescriptor]:
    return {FIRST_SCHEMA_ID + n: f for n, f in enumerate(contract_files())}


def messages_of(file: FileDescriptor) -> Iterator[Descriptor]:
    def walk(descriptor: Descriptor) -> Iterator[Descriptor]:
        if not descriptor.GetOptions().map_entry:  # map entries never travel alone
            yield descriptor
            for nested in descriptor.nested_types:
                yield from walk(nested)

    for descriptor in file.message_types_by_name.values():
        yield from walk(descriptor)


def vectors() -> list[Vector]:
    out = []
    for schema_id, file in schema_ids().items():
        for descriptor in messages_of(file):
            oneofs = [o for o in descriptor.oneofs if len(o.fields) > 1 or not _synthetic(o)]
            for variant in range(max([1, *(len(o.fields) for o in oneofs)])):
                message = GetMessageClass(descriptor)()
                _fill(message, variant, 0)
                out.append(Vector(f"{descriptor.full_name}.{variant}", message, file, schema_id))
    return out


def write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        stale.unlink()
    manifest = []
    for v in vectors():
        (folder / f"{v.name}.bin").write_bytes(v.frame)
        (folder / f"{v.name}.json").write_text(v.json, encoding="utf-8")
        manifest.append(
            {
                "name": v.name,
                "message": v.message.DESCRIPTOR.full_name,
                "file": v.file.name,
                "schema_id": v.schema_id,
                "indexes": list(frames.message_indexes(v.message.DESCRIPTOR)),
                "has_map": has_map(v.message.DESCRIPTOR),
            }
        )
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def has_map(descriptor: Descriptor, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a message holds a map anywhere: its bytes then depend on map order."""
    if descriptor.full_name in seen:
        return False
    for field in descriptor.fields:
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            return True
        if has_map(field.message_type, seen | {descriptor.full_name}):
            return True
    return False


def _synthetic(oneof: object) -> bool:
    fields = getattr(oneof, "fields", [])
    return len(fields) == 1 and getattr(oneof, "name", "").startswith("_")


def _fill(message: Message, variant: int, depth: int) -> None:
    descriptor = message.DESCRIPTOR
    if descriptor.full_name == "google.protobuf.Timestamp":
        message.seconds = 1_767_225_600 + variant  # type: ignore[attr-defined]
        message.nanos = 123_456_789  # type: ignore[attr-defined]
        return
    if descriptor.full_name == "google.protobuf.Duration":
        message.seconds = 3723 + variant  # type: ignore[attr-defined]
        message.nanos = 500_000_000  # type: ignore[attr-defined]
        return
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and not _synthetic(oneof):
            members = list(oneof.fields)
            if members[variant % len(members)] is not field:
                continue
        target = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            for k in range(2):
                key = _scalar(key_field, k)
                if value_field.message_type is not None:
                    if depth < _MAX_DEPTH:
                        _fill(target[key], variant + k, depth + 1)
                else:
                    target[key] = _scalar(value_field, k)
        elif field.is_repeated:
            for k in range(2):
                if field.message_type is not None:
                    if depth < _MAX_DEPTH:
                        _fill(target.add(), variant + k, depth + 1)
                else:
                    target.append(_scalar(field, k))
        elif field.message_type is not None:
            if depth < _MAX_DEPTH:
                target.SetInParent()
                _fill(target, variant, depth + 1)
        else:
            setattr(message, field.name, _scalar(field, 0))


def _scalar(field: FieldDescriptor, k: int) -> object:
    t = FieldDescriptor
    kind = field.type
    if kind in (t.TYPE_INT64, t.TYPE_SFIXED64):
        return 2**53 + 1 + k
    if kind == t.TYPE_SINT64:
        return -(2**53 + 1 + k)
    if kind in (t.TYPE_UINT64, t.TYPE_FIXED64):
        return 2**64 - 1 - k
    if kind in (t.TYPE_INT32, t.TYPE_SFIXED32):
        return field.number * 1000 + k
    if kind == t.TYPE_SINT32:
        return -(field.number * 1000 + k)
    if kind in (t.TYPE_UINT32, t.TYPE_FIXED32):
        return 2**32 - 1 - k
    if kind == t.TYPE_BOOL:
        return k == 0
    if kind == t.TYPE_FLOAT:
        return 1.5 + k
    if kind == t.TYPE_DOUBLE:
        return 12345.678 + k
    if kind == t.TYPE_STRING:
        return f"{field.name}-{k}-\u00e9\u2713"
    if kind == t.TYPE_BYTES:
        return bytes([0, 255, k]) + field.name.encode()
    if kind == t.TYPE_ENUM:
        values = field.enum_type.values
        return values[-1 - k % len(values)].number if len(values) > 1 else values[0].number
    raise AssertionError(f"no sample for field {field.full_name} of type {kind}")


if __name__ == "__main__":
    write(VECTORS)
