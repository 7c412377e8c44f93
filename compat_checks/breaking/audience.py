"""Who a buf breaking finding breaks: Go source, Python source, JSON clients, wire.

Go code is generated per package and Python per file, so moving a type between
files of one package breaks Python imports but not Go. Renames break source and
JSON but not the binary wire. A type change depends on the two types. The
static table answers from the rule alone; `classify` refines the rules whose
answer depends on the descriptors of both images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.protobuf import descriptor_pb2

from contracts_core.buf import BufDiagnostic
from contracts_core.descriptors import Element, Kind
from contracts_core.findings import Audience
from contracts_core.image import Image

GO, PY, JSON, WIRE = Audience.GO_SOURCE, Audience.PYTHON_SOURCE, Audience.JSON, Audience.WIRE
SOURCE = (GO, PY)
ALL = (GO, PY, JSON, WIRE)

STATIC: dict[str, tuple[Audience, ...]] = {
    # Deletions. Types deleted "from a file" may still exist in the package (refined below).
    "FILE_NO_DELETE": SOURCE,
    "MESSAGE_NO_DELETE": SOURCE,
    "ENUM_NO_DELETE": SOURCE,
    "SERVICE_NO_DELETE": ALL,
    "EXTENSION_NO_DELETE": (*SOURCE, WIRE),
    "PACKAGE_NO_DELETE": SOURCE,
    "PACKAGE_MESSAGE_NO_DELETE": SOURCE,
    "PACKAGE_ENUM_NO_DELETE": SOURCE,
    "PACKAGE_SERVICE_NO_DELETE": ALL,
    "PACKAGE_EXTENSION_NO_DELETE": (*SOURCE, WIRE),
    "RPC_NO_DELETE": ALL,  # callers get UNIMPLEMENTED
    "ONEOF_NO_DELETE": SOURCE,
    # Strict JSON parsers (protojson, json_format.Parse) reject unknown field names;
    # the binary wire skips unknown fields.
    "FIELD_NO_DELETE": (*SOURCE, JSON),
    "FIELD_NO_DELETE_UNLESS_NAME_RESERVED": (JSON,),
    "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED": (JSON, WIRE),
    "ENUM_VALUE_NO_DELETE": (*SOURCE, JSON),
    "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED": (JSON,),
    "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED": (JSON, WIRE),
    "RESERVED_ENUM_NO_DELETE": (JSON, WIRE),
    "RESERVED_MESSAGE_NO_DELETE": (JSON, WIRE),
    "EXTENSION_MESSAGE_NO_DELETE": (WIRE,),
    # Renames: generated identifiers and JSON keys change; field numbers do not.
    "FIELD_SAME_NAME": (*SOURCE, JSON),
    "FIELD_SAME_JSON_NAME": (JSON,),
    "ENUM_VALUE_SAME_NAME": (*SOURCE, JSON),
    # Shape changes.
    "FIELD_SAME_TYPE": ALL,
    "FIELD_WIRE_COMPATIBLE_TYPE": ALL,
    "FIELD_WIRE_JSON_COMPATIBLE_TYPE": ALL,
    "FIELD_SAME_CARDINALITY": ALL,
    "FIELD_WIRE_COMPATIBLE_CARDINALITY": ALL,
    "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY": ALL,
    "FIELD_SAME_ONEOF": (*SOURCE, WIRE),
    "FIELD_SAME_DEFAULT": (JSON, WIRE),
    "FIELD_SAME_UTF8_VALIDATION": (WIRE,),
    "MESSAGE_SAME_REQUIRED_FIELDS": (JSON, WIRE),
    "MESSAGE_SAME_JSON_FORMAT": (JSON,),
    "ENUM_SAME_JSON_FORMAT": (JSON,),
    "ENUM_SAME_TYPE": (WIRE,),  # open vs closed: unknown values are kept or dropped
    # RPC signatures: method paths and message types on the wire.
    "RPC_SAME_REQUEST_TYPE": ALL,
    "RPC_SAME_RESPONSE_TYPE": ALL,
    "RPC_SAME_CLIENT_STREAMING": (*SOURCE, WIRE),
    "RPC_SAME_SERVER_STREAMING": (*SOURCE, WIRE),
    "RPC_SAME_IDEMPOTENCY_LEVEL": (WIRE,),  # Connect/HTTP GET eligibility
    # File options: only ours matter to Go and Python.
    "FILE_SAME_PACKAGE": ALL,  # full names, Any type URLs and RPC paths all move
    "FILE_SAME_SYNTAX": (*SOURCE, JSON),
    "FILE_SAME_GO_PACKAGE": (GO,),
    "FILE_SAME_PY_GENERIC_SERVICES": (PY,),
}
# Options of other languages (Java, C++, C#, PHP, Ruby, Swift, ObjC) break none of
# Go source, Python source, JSON or wire; they map to () and print no audience.

_VARINT = {"int32", "int64", "uint32", "uint64", "bool", "enum"}
_WIRE_GROUPS = [
    _VARINT,
    {"sint32", "sint64"},
    {"fixed32", "sfixed32"},
    {"fixed64", "sfixed64"},
    {"string", "bytes"},
]
_JSON_INTEGERS = {
    "int32",
    "int64",
    "uint32",
    "uint64",
    "sint32",
    "sint64",
    "fixed32",
    "fixed64",
    "sfixed32",
    "sfixed64",
}
_JSON_GROUPS = [_JSON_INTEGERS, {"float", "double"}]
_PACKABLE = _VARINT | {
    "sint32",
    "sint64",
    "fixed32",
    "sfixed32",
    "fixed64",
    "sfixed64",
    "float",
    "double",
}
_QUOTED = re.compile(r'"([^"]*)"')


@dataclass
class _Images:
    old: Image
    new: Image

    def fields_at(self, diag: BufDiagnostic) -> tuple[Element, Element] | None:
        """The new field at a finding's position and the old field with its number."""
        if diag.path not in self.new.model.files:
            return None
        best: Element | None = None
        for element in self.new.model.of_kind(diag.path, Kind.FIELD):
            loc = element.location
            if (loc.line, loc.column) <= (diag.line, diag.column) and (
                best is None or (loc.line, loc.column) > (best.location.line, best.location.column)
            ):
                best = element
        if best is None or best.parent is None:
            return None
        old_message = self.old.model.resolve(best.parent.full_name)
        if old_message is None:
            return None
        for element in self.old.model.children(old_message, Kind.FIELD):
            if element.proto.number == best.proto.number:
                return element, best
        return None

    def package_has(self, package: str, name: str) -> bool:
        # Indexed once per image, not walked again for every deletion finding.
        return (f"{package}.{name}" if package else name) in self.new.model.declared_names


def _type(field: descriptor_pb2.FieldDescriptorProto) -> str:
    """The field's scalar type, or `message:<name>` / `enum:<name>` for named types."""
    name = descriptor_pb2.FieldDescriptorProto.Type.Name(field.type)[len("TYPE_") :].lower()
    if name in ("message", "group"):
        return f"message:{field.type_name}"
    return f"enum:{field.type_name}" if name == "enum" else name


def _kind(type_: str) -> str:
    """`message` or `enum` for named types, the scalar type otherwise."""
    return type_.split(":")[0]


def _grouped(a: str, b: str, groups: list[set[str]]) -> bool:
    return a == b or any(a in g and b in g for g in groups)


def classify(rule: str, diag: BufDiagnostic, old: Image, new: Image) -> tuple[Audience, ...]:
    images = _Images(old, new)
    if rule in ("FIELD_SAME_TYPE", "FIELD_WIRE_COMPATIBLE_TYPE", "FIELD_WIRE_JSON_COMPATIBLE_TYPE"):
        pair = images.fields_at(diag)
        if pair is not None:
            return _type_change(pair[0].proto, pair[1].proto)
    if rule in (
        "FIELD_SAME_CARDINALITY",
        "FIELD_WIRE_COMPATIBLE_CARDINALITY",
        "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY",
    ):
        pair = images.fields_at(diag)
        if pair is not None:
            return _cardinality_change(pair[0].proto, pair[1].proto)
    if rule in ("MESSAGE_NO_DELETE", "ENUM_NO_DELETE", "SERVICE_NO_DELETE"):
        names = _QUOTED.findall(diag.message)
        old_file = old.files.get(diag.path)
        if names and old_file is not None and images.package_has(old_file.package, names[0]):
            return (PY,)  # moved to another file of the same package
    if rule == "FILE_NO_DELETE":
        names = _QUOTED.findall(diag.message)
        old_file = old.files.get(names[0]) if names else None
        if old_file is not None:
            top = [m.name for m in old_file.message_type] + [e.name for e in old_file.enum_type]
            services = [s.name for s in old_file.service]
            gone = [n for n in top + services if not images.package_has(old_file.package, n)]
            if not gone:
                return (PY,)
            if any(n in services for n in gone):
                return ALL
            return SOURCE
    return STATIC.get(rule, ())


def _type_change(
    old: descriptor_pb2.FieldDescriptorProto, new: descriptor_pb2.FieldDescriptorProto
) -> tuple[Audience, ...]:
    a, b = _type(old), _type(new)
    out = [GO, PY]
    # JSON spells enum values by name, so another enum type breaks JSON clients even
    # though both travel as varints.
    if not _grouped(a, b, _JSON_GROUPS):
        out.append(JSON)
    ka, kb = _kind(a), _kind(b)
    wire_ok = (
        _grouped(a, b, _WIRE_GROUPS)
        or (ka == "enum" and kb in _VARINT)
        or (kb == "enum" and ka in _VARINT)
        or {ka, kb} == {"message", "bytes"}
    )
    if not wire_ok:
        out.append(WIRE)
    return tuple(out)


def _cardinality_change(
    old: descriptor_pb2.FieldDescriptorProto, new: descriptor_pb2.FieldDescriptorProto
) -> tuple[Audience, ...]:
    repeated = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    if repeated not in (old.label, new.label):
        return SOURCE  # explicit vs implicit presence: Go pointers and Python HasField change
    out = [GO, PY, JSON]  # a JSON array vs a single value
    if _kind(_type(new)) in _PACKABLE:
        out.append(WIRE)  # packed repeated scalars do not parse as one value
    return tuple(out)
