"""The JSON Schema target: one draft 2020-12 schema per message (generated/jsonschema).

Each schema describes the message's proto3 JSON form as parsers accept it:
fields under their json_name and their original proto name, null for any
singular field, integers as numbers (1, 1.0 or 1e2) or as in-range strings
("768"), 64-bit ones as numbers only up to 2^53, floats as numbers or strings
("1.5", "NaN", "Infinity"), well-known types in their special JSON forms.
What it accepts is what Go's protojson and Python's json_format both accept
(tests/test_jsonschema_leniency.py holds the table and the few departures).
Strict: unknown fields fail.
Every file is self-contained; the messages and enums it uses sit in its `$defs`,
keyed by full name, so recursion is a `$ref` to `#/$defs/<full name>`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

from codegen.gen import tree
from contracts_core.descriptors import Element, Kind, Model, json_name
from contracts_core.image import Image
from contracts_core.workspace import Workspace

_DRAFT = "https://json-schema.org/draft/2020-12/schema"

FDP = descriptor_pb2.FieldDescriptorProto
Schema = dict[str, Any]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_UINT32_MAX = 2**32 - 1
_SAFE_INT = 2**53 - 1
_BASE64 = "^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$"
_TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_DURATION = r"^-?[0-9]+(\.[0-9]{1,9})?s$"


_FLOAT32_MAX = 3.4028234663852886e38  # the largest finite float
_FLOAT64_MAX = 1.7976931348623157e308
# A JSON number as a string: Go's protojson accepts exactly JSON's number syntax
# there, Python's json_format anything float() reads; the schema takes the former.
_NUMBER_STRING = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"


def _at_most(limit: int) -> str:
    """A regex for the decimal integers 1..limit, without sign or leading zeros:
    fewer digits than limit, or its first digits then a smaller one then any."""

    def digits_between(low: int, high: int) -> str:
        return str(low) if low == high else f"[{low}-{high}]"

    def any_digits(count: int) -> str:
        return "" if count == 0 else "[0-9]" if count == 1 else f"[0-9]{{{count}}}"

    text = str(limit)
    width = len(text)
    alternatives = []
    if width > 1:
        alternatives.append("[1-9]" + ("" if width == 2 else f"[0-9]{{0,{width - 2}}}"))
    for i, digit in enumerate(text):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            smaller = digits_between(low, int(digit) - 1)
            alternatives.append(text[:i] + smaller + any_digits(width - i - 1))
    alternatives.append(text)
    return "(?:" + "|".join(alternatives) + ")"


def _integer_string(minimum: int, maximum: int) -> str:
    """An in-range integer written as a string, as both reference parsers read it:
    JSON number syntax, an optional all-zero fraction ("768", "-0", "1.0")."""
    body = ["-?0", _at_most(maximum)]
    if minimum < 0:
        body.append("-" + _at_most(-minimum))
    return f"^(?:{'|'.join(body)})(?:\\.0+)?$"


def _integer(minimum: int, maximum: int) -> Schema:
    """An integer field: a number (1, 1.0 and 1e2 alike) or a string of one.

    Strings in exponent form ("1e2") are left out: both parsers take them when
    the value is integral and in range, which no pattern can check.
    """
    return {
        "anyOf": [
            {"type": "integer", "minimum": minimum, "maximum": maximum},
            {"type": "string", "pattern": _integer_string(minimum, maximum)},
        ]
    }


def _int32() -> Schema:
    return _integer(_INT32_MIN, _INT32_MAX)


def _uint32() -> Schema:
    return _integer(0, _UINT32_MAX)


def _int64(signed: bool) -> Schema:
    # A number only up to 2^53: above it both parsers still read the exact text,
    # but JavaScript and every double-based JSON library round it, so producers
    # must write a string (as protojson and json_format print them).
    string_min, string_max = (-(2**63), 2**63 - 1) if signed else (0, 2**64 - 1)
    return {
        "anyOf": [
            {"type": "string", "pattern": _integer_string(string_min, string_max)},
            {
                "type": "integer",
                "minimum": -_SAFE_INT if signed else 0,
                "maximum": _SAFE_INT,
            },
        ]
    }


def _float(bound: float) -> Schema:
    return {
        "anyOf": [
            {"type": "number", "minimum": -bound, "maximum": bound},
            {"type": "string", "pattern": f"^(?:{_NUMBER_STRING}|NaN|-?Infinity)$"},
        ]
    }


def _bytes() -> Schema:
    return {"type": "string", "contentEncoding": "base64", "pattern": _BASE64}


def _scalar(kind: int) -> Schema:
    if kind in (FDP.TYPE_INT32, FDP.TYPE_SINT32, FDP.TYPE_SFIXED32):
        return _int32()
    if kind in (FDP.TYPE_UINT32, FDP.TYPE_FIXED32):
        return _uint32()
    if kind in (FDP.TYPE_INT64, FDP.TYPE_SINT64, FDP.TYPE_SFIXED64):
        return _int64(signed=True)
    if kind in (FDP.TYPE_UINT64, FDP.TYPE_FIXED64):
        return _int64(signed=False)
    if kind == FDP.TYPE_FLOAT:
        return _float(_FLOAT32_MAX)
    if kind == FDP.TYPE_DOUBLE:
        return _float(_FLOAT64_MAX)
    if kind == FDP.TYPE_BOOL:
        return {"type": "boolean"}
    if kind == FDP.TYPE_STRING:
        return {"type": "string"}
    if kind == FDP.TYPE_BYTES:
        return _bytes()
    raise ValueError(f"not a scalar field type: {kind}")


def _wkt(full_name: str) -> Schema | None:
    """The special JSON form of a well-known type, or None for an ordinary message."""
    wrappers = {
        "google.protobuf.DoubleValue": FDP.TYPE_DOUBLE,
        "google.protobuf.FloatValue": FDP.TYPE_FLOAT,
        "google.protobuf.Int64Value": FDP.TYPE_INT64,
        "google.protobuf.UInt64Value": FDP.TYPE_UINT64,
        "google.protobuf.Int32Value": FDP.TYPE_INT32,
        "google.protobuf.UInt32Value": FDP.TYPE_UINT32,
        "google.protobuf.BoolValue": FDP.TYPE_BOOL,
        "google.protobuf.StringValue": FDP.TYPE_STRING,
        "google.protobuf.BytesValue": FDP.TYPE_BYTES,
    }
    if full_name in wrappers:
        return _scalar(wrappers[full_name])
    if full_name == "google.protobuf.Timestamp":
        return {"type": "string", "format": "date-time", "pattern": _TIMESTAMP}
    if full_name == "google.protobuf.Duration":
        return {"type": "string", "pattern": _DURATION}
    if full_name == "google.protobuf.Struct":
        return {"type": "object"}
    if full_name == "google.protobuf.Value":
        return {}
    if full_name == "google.protobuf.ListValue":
        return {"type": "array"}
    if full_name == "google.protobuf.Any":
        return {
            "type": "object",
            "properties": {"@type": {"type": "string"}},
            "required": ["@type"],
        }
    if full_name == "google.protobuf.FieldMask":
        return {
            "type": "string",
            "description": "Comma-separated field paths, each in lowerCamelCase.",
        }
    if full_name == "google.protobuf.Empty":
        return {"type": "object", "additionalProperties": False}
    if full_name == "google.protobuf.NullValue":
        return {"type": "null"}
    return None


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


class _Builder:
    """The schema of one root message, collecting the `$defs` it needs."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.defs: dict[str, Schema] = {}
        self._pending: list[str] = []

    def ref(self, full_name: str) -> Schema:
        if full_name not in self.defs and full_name not in self._pending:
            self._pending.append(full_name)
        return {"$ref": f"#/$defs/{full_name}"}

    def root(self, t: Element) -> Schema:
        body = self.message(t)
        while self._pending:
            name = self._pending.pop(0)
            target = self.model.resolve(name)
            assert target is not None, f"{name} is referenced but not in the image"
            self.defs[name] = (
                self.message(target) if target.kind is Kind.MESSAGE else self.enum(target)
            )
        schema: Schema = {"$schema": _DRAFT, "$id": t.full_name, **body}
        if self.defs:
            schema["$defs"] = dict(sorted(self.defs.items()))
        return schema

    def _describe(self, t: Element) -> Schema:
        prefix = f"{t.file.package}." if t.file.package else ""
        out: Schema = {"title": t.full_name.removeprefix(prefix)}
        comment = t.location.doc.strip()
        if comment:
            out["description"] = comment
        return out

    def enum(self, t: Element) -> Schema:
        wkt = _wkt(t.full_name)
        if wkt is not None:
            return {**self._describe(t), **wkt}
        names = [v.name for v in t.proto.value]
        return {
            **self._describe(t),
            # A number, never a string of one: protojson takes only names as strings.
            "anyOf": [
                {"type": "string", "enum": names},
                {"type": "integer", "minimum": _INT32_MIN, "maximum": _INT32_MAX},
            ],
        }

    def message(self, t: Element) -> Schema:
        msg: descriptor_pb2.DescriptorProto = t.proto
        properties: dict[str, Schema] = {}
        aliases: dict[int, list[str]] = {}
        for i, element in enumerate(self.model.children(t, Kind.FIELD)):
            field = element.proto
            prop = self.field(field)
            comment = element.location.doc.strip()
            if comment:
                prop = {"description": comment, **prop}
            names = list(dict.fromkeys([json_name(field), field.name]))
            aliases[i] = names
            for name in names:
                properties[name] = prop
        # Names that may not appear together: a field's two spellings (the
        # json_name excludes the proto name), and any two members of one (real,
        # not proto3-optional) oneof.
        exclusive: dict[str, set[str]] = {}
        for names in aliases.values():
            for name in names:
                exclusive[name] = set()
            exclusive[names[0]].update(names[1:])
        for oneof_index in range(len(msg.oneof_decl)):
            members = [
                i
                for i, f in enumerate(msg.field)
                if f.HasField("oneof_index")
                and f.oneof_index == oneof_index
                and not f.proto3_optional
            ]
            for i in members:
                others = {n for j in members if j != i for n in aliases[j]}
                for name in aliases[i]:
                    exclusive[name].update(others)
        schema: Schema = {
            **self._describe(t),
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        # {"not": {}} rather than false: jsonschema then reports the error at
        # the offending property's path, not at the object's.
        dependent: dict[str, Schema] = {
            name: {"properties": {other: {"not": {}} for other in sorted(others)}}
            for name, others in sorted(exclusive.items())
            if others
        }
        if dependent:
            schema["dependentSchemas"] = dependent
        return schema

    def field(self, field: descriptor_pb2.FieldDescriptorProto) -> Schema:
        if field.label == FDP.LABEL_REPEATED:
            entry = self._map_entry(field)
            if entry is not None:
                key_field, value_field = entry.field[0], entry.field[1]
                obj: Schema = {
                    "type": "object",
                    "additionalProperties": self.value(value_field),
                }
                names = self._key_names(key_field.type)
                if names is not None:
                    obj["propertyNames"] = names
                return _nullable(obj)
            return _nullable({"type": "array", "items": self.value(field)})
        value = self.value(field)
        if value == {} or value == {"type": "null"}:
            return value  # Value and NullValue already take null.
        return _nullable(value)

    def value(self, field: descriptor_pb2.FieldDescriptorProto) -> Schema:
        """The schema of one value of the field, null not included."""
        if field.type in (FDP.TYPE_MESSAGE, FDP.TYPE_GROUP, FDP.TYPE_ENUM):
            name = field.type_name.lstrip(".")
            wkt = _wkt(name)
            if wkt is not None:
                return wkt
            return self.ref(name)
        return _scalar(field.type)

    def _map_entry(
        self, field: descriptor_pb2.FieldDescriptorProto
    ) -> descriptor_pb2.DescriptorProto | None:
        if field.type != FDP.TYPE_MESSAGE:
            return None
        t = self.model.resolve(field.type_name)
        if t is None or not t.is_map_entry:
            return None
        message: descriptor_pb2.DescriptorProto = t.proto
        return message

    @staticmethod
    def _key_names(kind: int) -> Schema | None:
        # Map keys are read as Go's strconv.ParseInt/ParseUint read them (a sign,
        # leading zeros), which Python's int() also takes; never fractions or exponents.
        if kind == FDP.TYPE_BOOL:
            return {"pattern": "^(true|false)$"}
        if kind in (FDP.TYPE_UINT32, FDP.TYPE_FIXED32):
            return {"pattern": _key_pattern(0, _UINT32_MAX)}
        if kind in (FDP.TYPE_UINT64, FDP.TYPE_FIXED64):
            return {"pattern": _key_pattern(0, 2**64 - 1)}
        if kind in (FDP.TYPE_INT32, FDP.TYPE_SINT32, FDP.TYPE_SFIXED32):
            return {"pattern": _key_pattern(_INT32_MIN, _INT32_MAX)}
        if kind in (FDP.TYPE_INT64, FDP.TYPE_SINT64, FDP.TYPE_SFIXED64):
            return {"pattern": _key_pattern(-(2**63), 2**63 - 1)}
        return None


def _key_pattern(minimum: int, maximum: int) -> str:
    if minimum == 0:
        return f"^0*(?:0|{_at_most(maximum)})$"
    return f"^(?:\\+?0*(?:0|{_at_most(maximum)})|-0*(?:0|{_at_most(-minimum)}))$"


def schemas(image: Image) -> dict[str, Schema]:
    """Output path (relative, posix) -> schema, for every message of the target files."""
    return _schemas(image.model, [f.name for f in image.target_files()])


def schemas_of(
    files: Sequence[descriptor_pb2.FileDescriptorProto], to_generate: Sequence[str]
) -> dict[str, Schema]:
    """schemas() on plain descriptors, as a protoc plugin receives them."""
    return _schemas(Model(files), to_generate)


def _schemas(model: Model, to_generate: Sequence[str]) -> dict[str, Schema]:
    out: dict[str, Schema] = {}
    for file in (model.files[name] for name in to_generate):
        directory = "/".join(file.package.split(".")) if file.package else ""
        prefix = f"{file.package}." if file.package else ""
        for t in model.of_kind(file.name, Kind.MESSAGE):
            if t.is_map_entry:
                continue  # a map's entry is the map's schema, not a message of its own
            rel = f"{t.full_name.removeprefix(prefix)}.schema.json"
            out[f"{directory}/{rel}" if directory else rel] = _Builder(model).root(t)
    return out


def render(schema: Schema) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def build(ws: Workspace, image: Image, out: Path) -> None:
    out.mkdir(parents=True)
    files = {rel: render(schema) for rel, schema in schemas(image).items()}
    tree.write_files(out, files, "the jsonschema target")
