"""The difference types between two Protobuf schemas, and which of them break readers.

The names and the wire verdicts are Confluent Schema Registry's (learned from
protobuf-provider/.../protobuf/diff/Difference.java and SchemaDiff.java in
github.com/confluentinc/schema-registry), so a team moving between its
registry and ours sees the same verdicts and the same words. One comparison
has a writer (`original`, whose data exists) and a reader (`update`).
FIELD_JSON_NAME_CHANGED is ours: Confluent judges the binary wire only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contracts_core.descriptors import Element


class DifferenceType(StrEnum):
    PACKAGE_CHANGED = "PACKAGE_CHANGED"
    MESSAGE_ADDED = "MESSAGE_ADDED"
    MESSAGE_REMOVED = "MESSAGE_REMOVED"
    MESSAGE_MOVED = "MESSAGE_MOVED"
    ENUM_ADDED = "ENUM_ADDED"
    ENUM_REMOVED = "ENUM_REMOVED"
    ENUM_CONST_ADDED = "ENUM_CONST_ADDED"
    ENUM_CONST_CHANGED = "ENUM_CONST_CHANGED"
    ENUM_CONST_REMOVED = "ENUM_CONST_REMOVED"
    FIELD_ADDED = "FIELD_ADDED"
    FIELD_REMOVED = "FIELD_REMOVED"
    FIELD_NAME_CHANGED = "FIELD_NAME_CHANGED"
    FIELD_JSON_NAME_CHANGED = "FIELD_JSON_NAME_CHANGED"
    FIELD_KIND_CHANGED = "FIELD_KIND_CHANGED"
    FIELD_SCALAR_KIND_CHANGED = "FIELD_SCALAR_KIND_CHANGED"
    FIELD_NAMED_TYPE_CHANGED = "FIELD_NAMED_TYPE_CHANGED"
    FIELD_NUMERIC_LABEL_CHANGED = "FIELD_NUMERIC_LABEL_CHANGED"
    FIELD_STRING_OR_BYTES_LABEL_CHANGED = "FIELD_STRING_OR_BYTES_LABEL_CHANGED"
    REQUIRED_FIELD_ADDED = "REQUIRED_FIELD_ADDED"
    REQUIRED_FIELD_REMOVED = "REQUIRED_FIELD_REMOVED"
    ONEOF_ADDED = "ONEOF_ADDED"
    ONEOF_REMOVED = "ONEOF_REMOVED"
    ONEOF_FIELD_ADDED = "ONEOF_FIELD_ADDED"
    ONEOF_FIELD_REMOVED = "ONEOF_FIELD_REMOVED"
    ONEOF_FIELD_MOVED_TO_TOP_LEVEL = "ONEOF_FIELD_MOVED_TO_TOP_LEVEL"
    MULTIPLE_FIELDS_MOVED_TO_ONEOF = "MULTIPLE_FIELDS_MOVED_TO_ONEOF"
    FIELD_MOVED_TO_EXISTING_ONEOF = "FIELD_MOVED_TO_EXISTING_ONEOF"

    @property
    def breaks_wire(self) -> bool:
        """Whether the reader can no longer read the writer's binary data."""
        return self in WIRE_INCOMPATIBLE

    @property
    def breaks_json(self) -> bool:
        """Whether proto3 JSON written by the writer is misread by the reader."""
        return self in WIRE_INCOMPATIBLE or self in JSON_INCOMPATIBLE


D = DifferenceType

# Confluent's set: everything not in its list of compatible changes.
WIRE_INCOMPATIBLE = frozenset(
    {
        D.PACKAGE_CHANGED,
        D.MESSAGE_REMOVED,
        D.FIELD_KIND_CHANGED,
        D.FIELD_SCALAR_KIND_CHANGED,
        D.FIELD_NAMED_TYPE_CHANGED,
        D.FIELD_NUMERIC_LABEL_CHANGED,
        D.REQUIRED_FIELD_ADDED,
        D.REQUIRED_FIELD_REMOVED,
        D.ONEOF_FIELD_REMOVED,
        D.MULTIPLE_FIELDS_MOVED_TO_ONEOF,
        D.FIELD_MOVED_TO_EXISTING_ONEOF,
    }
)

# On top, for proto3 JSON: keys are field names (the json_name, or the proto name
# when a writer preserves them) and enum values are written by name, so renaming
# either makes the reader drop or reject what the writer wrote. The policy assumes
# readers ignore unknown fields and enum names (protojson's DiscardUnknown, Python's
# ignore_unknown_fields); strict readers also break on any field or value added.
JSON_INCOMPATIBLE = frozenset(
    {D.FIELD_NAME_CHANGED, D.FIELD_JSON_NAME_CHANGED, D.ENUM_CONST_CHANGED}
)

_WHAT = {
    D.PACKAGE_CHANGED: "the package changed",
    D.MESSAGE_ADDED: "the reader has a message the writer lacks",
    D.MESSAGE_REMOVED: "the reader lacks a message the writer has",
    D.MESSAGE_MOVED: "the message moved to another position",
    D.ENUM_ADDED: "the reader has an enum the writer lacks",
    D.ENUM_REMOVED: "the reader lacks an enum the writer has",
    D.ENUM_CONST_ADDED: "the reader has an enum value the writer lacks",
    D.ENUM_CONST_CHANGED: "the enum value with this number has another name",
    D.ENUM_CONST_REMOVED: "the reader lacks an enum value the writer has",
    D.FIELD_ADDED: "the reader has a field the writer lacks",
    D.FIELD_REMOVED: "the reader lacks a field the writer has",
    D.FIELD_NAME_CHANGED: "the field with this number has another name",
    D.FIELD_JSON_NAME_CHANGED: "the field's JSON name changed",
    D.FIELD_KIND_CHANGED: "the field changed between scalar or enum, message and map",
    D.FIELD_SCALAR_KIND_CHANGED: "the field's scalar type moved to another wire-compatible group",
    D.FIELD_NAMED_TYPE_CHANGED: "the field's message type is another or incompatible",
    D.FIELD_NUMERIC_LABEL_CHANGED: "a numeric field changed between singular and repeated",
    D.FIELD_STRING_OR_BYTES_LABEL_CHANGED: "a string or bytes field changed between singular and repeated",
    D.REQUIRED_FIELD_ADDED: "the reader requires a field the writer lacks",
    D.REQUIRED_FIELD_REMOVED: "the reader lacks a required field the writer has",
    D.ONEOF_ADDED: "the reader has a oneof the writer lacks",
    D.ONEOF_REMOVED: "the reader lacks a oneof the writer has",
    D.ONEOF_FIELD_ADDED: "the reader's oneof has a member the writer lacks",
    D.ONEOF_FIELD_REMOVED: "the reader lacks a oneof member the writer has",
    D.ONEOF_FIELD_MOVED_TO_TOP_LEVEL: "a oneof member became a top-level field",
    D.MULTIPLE_FIELDS_MOVED_TO_ONEOF: "several independent fields of the writer are one oneof in the reader",
    D.FIELD_MOVED_TO_EXISTING_ONEOF: "fields the writer sets independently share one oneof in the reader",
}


def describe(kind: DifferenceType) -> str:
    return _WHAT[kind]


@dataclass(frozen=True, eq=False)
class Difference:
    """One difference between a writer's and a reader's schema.

    `path` is Confluent's: `#/Message/Nested/<field number>`, with the oneof's
    name before a member's number, `#/Enum/<value number>`, `#/` for the file.
    `original` and `update` are the innermost elements of each side that the
    difference is about (the field, or the message that lacks it).
    """

    type: DifferenceType
    path: str
    original: Element | None
    update: Element | None
    detail: str = ""
