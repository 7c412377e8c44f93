"""Who a buf breaking finding breaks: Go source, Python source, JSON clients, wire.

Go code is generated per package and Python per file, so moving a type between
files of one package breaks Python imports but not Go. Renames break source and
JSON but not the binary wire. A type change depends on the two types. The
static table answers from the rule alone; `classify` refines the rules whose
answer depends on the descriptors of both images. Where the descriptors cannot
decide (two different message types of another shape), the audience is named
as one that may break, never guessed either way.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
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


@dataclass(frozen=True)
class Verdict:
    """Who a finding breaks, and who it may break (undecidable from the descriptors)."""

    breaks: tuple[Audience, ...]
    may_break: tuple[Audience, ...] = ()


class Judge:
    """Says who each finding between two images breaks; indexes each image once."""

    def __init__(self, old: Image, new: Image) -> None:
        self.old = old
        self.new = new

    @functools.cached_property
    def old_types(self) -> _Types:
        return _Types.of(self.old)

    @functools.cached_property
    def new_types(self) -> _Types:
        return _Types.of(self.new)

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


@dataclass(frozen=True)
class _Types:
    """Messages and enums of one image by full name, and the enums some field uses."""

    messages: dict[str, descriptor_pb2.DescriptorProto]
    enums: dict[str, descriptor_pb2.EnumDescriptorProto]
    used_enums: frozenset[str]

    @classmethod
    def of(cls, image: Image) -> _Types:
        messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        used: set[str] = set()

        def visit(scope: str, protos: Iterable[descriptor_pb2.DescriptorProto]) -> None:
            for m in protos:
                full = f"{scope}{m.name}"
                messages[full] = m
                enums.update((f"{full}.{e.name}", e) for e in m.enum_type)
                used.update(
                    f.type_name.lstrip(".")
                    for f in (*m.field, *m.extension)
                    if f.type == descriptor_pb2.FieldDescriptorProto.TYPE_ENUM
                )
                visit(f"{full}.", m.nested_type)

        for file in image.descriptor_set.file:
            scope = f"{file.package}." if file.package else ""
            visit(scope, file.message_type)
            enums.update((f"{scope}{e.name}", e) for e in file.enum_type)
            used.update(
                f.type_name.lstrip(".")
                for f in file.extension
                if f.type == descriptor_pb2.FieldDescriptorProto.TYPE_ENUM
            )
        return cls(messages, enums, frozenset(used))


def _same_shape(
    old: _Types, old_name: str, new: _Types, new_name: str, json: bool, seen: set[tuple[str, str]]
) -> bool | None:
    """Whether two named types read the same bytes (or, with json, the same JSON).

    True when every field matches by number (and, for JSON, by name) with a type
    that reads the other's encoding; None when one of them is not in its image.
    """
    if (old_name, new_name) in seen:
        return True  # recursive types: assume the pair matches while checking it
    seen.add((old_name, new_name))
    if old_name in old.enums or new_name in new.enums:
        old_enum, new_enum = old.enums.get(old_name), new.enums.get(new_name)
        if old_enum is None or new_enum is None:
            return None
        # Both travel as varints; JSON spells each value by name.
        return not json or {(v.name, v.number) for v in old_enum.value} == {
            (v.name, v.number) for v in new_enum.value
        }
    old_message, new_message = old.messages.get(old_name), new.messages.get(new_name)
    if old_message is None or new_message is None:
        return None
    old_fields = {_field_key(f, json): f for f in old_message.field}
    new_fields = {_field_key(f, json): f for f in new_message.field}
    if old_fields.keys() != new_fields.keys():
        return False
    for key, of in old_fields.items():
        nf = new_fields[key]
        if of.label != nf.label:
            return False
        a, b = _type(of), _type(nf)
        if ":" in a and ":" in b and _kind(a) == _kind(b):
            inner = _same_shape(
                old, of.type_name.lstrip("."), new, nf.type_name.lstrip("."), json, seen
            )
            if inner is not True:
                return inner
        elif a != b:
            return False
    return True


def _field_key(field: descriptor_pb2.FieldDescriptorProto, json: bool) -> str | int:
    """What matches a field across versions: its JSON name in JSON, its number on the wire."""
    return (field.json_name or field.name) if json else field.number


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


def classify(rule: str, diag: BufDiagnostic, judge: Judge) -> Verdict:
    """Who a buf breaking finding breaks, and who it may break."""
    old, new = judge.old, judge.new
    if rule in ("FIELD_SAME_TYPE", "FIELD_WIRE_COMPATIBLE_TYPE", "FIELD_WIRE_JSON_COMPATIBLE_TYPE"):
        pair = judge.fields_at(diag)
        if pair is not None:
            return _type_change(pair[0].proto, pair[1].proto, judge)
    if rule in (
        "FIELD_SAME_CARDINALITY",
        "FIELD_WIRE_COMPATIBLE_CARDINALITY",
        "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY",
    ):
        pair = judge.fields_at(diag)
        if pair is not None:
            return Verdict(_cardinality_change(pair[0].proto, pair[1].proto, diag.message))
    if rule in ("RPC_SAME_REQUEST_TYPE", "RPC_SAME_RESPONSE_TYPE"):
        names = _QUOTED.findall(diag.message)
        if len(names) >= 2:
            return _named_type_change(names[-2], names[-1], judge)
    if rule.startswith("ENUM_VALUE_"):
        # '... enum value "1" on enum "Name" ...': the enum is the second quoted name.
        names = _QUOTED.findall(diag.message)
        new_file = new.files.get(diag.path)
        if len(names) >= 2 and new_file is not None:
            # buf names a nested enum `Outer.Inner`, relative to the package.
            enum = f"{new_file.package}.{names[1]}" if new_file.package else names[1]
            if enum in judge.new_types.enums and not any(
                enum in t.used_enums for t in (judge.old_types, judge.new_types)
            ):
                # No field carries this enum, so no JSON document spells its values.
                return Verdict(tuple(a for a in STATIC.get(rule, ()) if a is not JSON))
    if rule in ("MESSAGE_NO_DELETE", "ENUM_NO_DELETE", "SERVICE_NO_DELETE"):
        names = _QUOTED.findall(diag.message)
        old_file = old.files.get(diag.path)
        if names and old_file is not None and judge.package_has(old_file.package, names[0]):
            return Verdict((PY,))  # moved to another file of the same package
    if rule == "FILE_NO_DELETE":
        names = _QUOTED.findall(diag.message)
        old_file = old.files.get(names[0]) if names else None
        if old_file is not None:
            top = [m.name for m in old_file.message_type] + [e.name for e in old_file.enum_type]
            services = [s.name for s in old_file.service]
            gone = [n for n in top + services if not judge.package_has(old_file.package, n)]
            if not gone:
                return Verdict((PY,))
            if any(n in services for n in gone):
                return Verdict(ALL)
            return Verdict(SOURCE)
    return Verdict(STATIC.get(rule, ()))


def _named_type_change(old_name: str, new_name: str, judge: Judge) -> Verdict:
    """A field or RPC that now carries another message type.

    Generated code names the type, so both sources break. Wire and JSON break
    only if the two types read each other's data differently: the same shape
    breaks neither; another shape (or a type we cannot see) may break either,
    depending on which fields the clients fill in.
    """
    maybe = tuple(
        who
        for who, json in ((JSON, True), (WIRE, False))
        if _same_shape(judge.old_types, old_name, judge.new_types, new_name, json, set())
        is not True
    )
    return Verdict(SOURCE, maybe)


def _type_change(
    old: descriptor_pb2.FieldDescriptorProto, new: descriptor_pb2.FieldDescriptorProto, judge: Judge
) -> Verdict:
    a, b = _type(old), _type(new)
    ka, kb = _kind(a), _kind(b)
    old_name, new_name = old.type_name.lstrip("."), new.type_name.lstrip(".")
    if ka == kb == "message":
        return _named_type_change(old_name, new_name, judge)
    if ka == kb == "enum":
        # Both travel as varints; JSON spells values by name, so other names break it.
        same = _same_shape(judge.old_types, old_name, judge.new_types, new_name, True, set())
        if same is None:
            return Verdict(SOURCE, (JSON,))
        return Verdict(SOURCE if same else (*SOURCE, JSON))
    out = [GO, PY]
    if not _grouped(a, b, _JSON_GROUPS):
        out.append(JSON)
    wire_ok = (
        _grouped(a, b, _WIRE_GROUPS)
        or (ka == "enum" and kb in _VARINT)
        or (kb == "enum" and ka in _VARINT)
        or {ka, kb} == {"message", "bytes"}
    )
    if not wire_ok:
        out.append(WIRE)
    return Verdict(tuple(out))


def _cardinality_change(
    old: descriptor_pb2.FieldDescriptorProto,
    new: descriptor_pb2.FieldDescriptorProto,
    message: str,
) -> tuple[Audience, ...]:
    repeated = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    if repeated not in (old.label, new.label):
        before, after = (_QUOTED.findall(message) or ["", ""])[-2:]
        if "required" in (before, after):
            # Go and Python spell required and optional fields alike; parsers
            # reject a message missing a required field.
            return (JSON, WIRE)
        if after.endswith("explicit presence"):
            # Go turns the field into a pointer; Python keeps the attribute and
            # gains HasField, so old Python code still runs.
            return (GO,)
        # Go loses the pointer; Python's HasField on the field now raises ValueError.
        return SOURCE
    out = [GO, PY, JSON]  # a JSON array vs a single value
    if _kind(_type(new)) in _PACKABLE:
        out.append(WIRE)  # packed repeated scalars do not parse as one value
    return tuple(out)
