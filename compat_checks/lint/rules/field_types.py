"""Fields whose declared type hides what they hold, so each language guesses."""

from __future__ import annotations

import re

from compat_checks.lint.context import LintContext
from compat_checks.lint.registry import rule
from compat_checks.lint.rules._common import (
    INTEGER_TYPES,
    F,
    declared_type,
    in_map_entry,
    map_entry,
    map_key_value,
    tokens,
    value_field,
)
from contracts_core.descriptors import Element, Kind
from contracts_core.findings import Severity

# -- TIME_AS_SCALAR --------------------------------------------------------------

_TIME_TYPES = INTEGER_TYPES | {F.TYPE_STRING, F.TYPE_FLOAT, F.TYPE_DOUBLE}
# Last word of the name -> what the field holds.
_POINT_WORDS = frozenset({"at", "time", "ts", "timestamp", "deadline"})
# `at` and `ts` only as suffixes: `created_at`, but not a field named `at`.
_SUFFIX_ONLY = frozenset({"at", "ts"})
_DURATION_WORDS = frozenset({"timeout", "ttl", "duration", "interval"})
_UNIT_WORDS = frozenset(
    {
        *("ns", "nano", "nanos", "nanosecond", "nanoseconds"),
        *("us", "micros", "microsecond", "microseconds"),
        *("ms", "millis", "millisecond", "milliseconds"),
        *("sec", "secs", "second", "seconds"),
    }
)
# A unit after one of these is an instant in that unit: `created_at_ms`, `epoch_seconds`.
_INSTANT_MARKERS = frozenset({"at", "ts", "timestamp", "epoch", "unix"})


def _time_kind(name: str) -> str | None:
    words = tokens(name)
    if not words:
        return None
    last = words[-1]
    if last in _POINT_WORDS and (len(words) > 1 or last not in _SUFFIX_ONLY):
        return "Timestamp"
    if last in _DURATION_WORDS:
        return "Duration"
    if last in _UNIT_WORDS and len(words) > 1 and words[-2] != "per":  # not `requests_per_second`
        return "Timestamp" if _INSTANT_MARKERS & set(words[:-1]) else "Duration"
    return None


@rule(
    "TIME_AS_SCALAR",
    Kind.FIELD,
    severity=Severity.WARNING,
    rationale="A time held in a number or string keeps its unit and epoch only in the field "
    "name, so Go and Python each convert by hand and JSON shows a bare value.",
    fix="Use google.protobuf.Timestamp for points in time and google.protobuf.Duration for "
    "lengths of time.",
)
def time_as_scalar(element: Element, ctx: LintContext) -> str | None:
    if in_map_entry(element) or element.proto.type not in _TIME_TYPES:
        return None
    wkt = _time_kind(element.name)
    if wkt is None:
        return None
    is_string = element.proto.type == F.TYPE_STRING
    if wkt == "Timestamp":
        what, go, py, json = "a point in time", "AsTime()", "ToDatetime()", '"2024-05-01T12:00:00Z"'
        by_hand = (
            "its format is a convention that Go and Python parse by hand (time.Parse, "
            "datetime.fromisoformat)"
            if is_string
            else "its unit and epoch live only in the name, so Go and Python convert by hand "
            "(time.Unix, datetime.fromtimestamp)"
        )
    else:
        what, go, py, json = "a length of time", "AsDuration()", "ToTimedelta()", '"1.5s"'
        by_hand = (
            "its format is a convention that Go and Python parse by hand (time.ParseDuration "
            "accepts what Python code may not)"
            if is_string
            else "its unit lives only in the name, so Go and Python convert by hand "
            "(time.Duration(n) * time.Millisecond, timedelta(milliseconds=n))"
        )
    return (
        f"field `{element.full_name}` is {declared_type(element, ctx)} but its name says it "
        f"holds {what}: {by_hand}; google.protobuf.{wkt} gives Go {go}, Python {py} and "
        f"JSON {json}"
    )


# -- UNTYPED_BAG ---------------------------------------------------------------------

# A comment documents a bag when it says something about the content beyond the
# field's name. Each pattern is one way of saying it; a comment that only
# restates the name ("The parameters for the agent.") matches none.
_DESCRIBES_CONTENT = re.compile(
    "|".join(
        (
            # an encoding or format, by kind or by name
            r"\b(schemas?|formats?|formatted|encoding|encoded|serialized|serialization|layouts?"
            r"|content[- ]type|mime|json|yaml|xml|csv|protobuf|utf-?8|utf-?16|ascii|base64|hex"
            r"|hexadecimal|gzip|zstd|png|jpe?g|pem|der|uuid|sha-?\d+|md5|crc\d*)\b",
            # a size or a byte order or memory layout
            r"\b\d+[- ]?(bytes?|bits?|octets?)\b",
            r"\b(big|little)[- ]endian\b|\bbyte order\b|\b(row|column)[- ]major\b|\bflattened\b",
            # what a map's keys are
            r"\bkeys?\b|\bkeyed by\b|\bindexed by\b|\bmap(ping|s)? from\b",
            # headers: the keys are header names, the values header values
            r"\bheaders?\b",
            # content nobody should decode, or whose meaning belongs to a named party
            r"\b(opaque|arbitrary|uninterpreted|free[- ]form|verbatim|custom|customized)\b"
            r"|\b[a-z]+-(specific|defined)\b",
            # a reference: `a field`, a.dotted.Type, a URL, a standard, an example
            r"`[^`]+`|(?-i:\b[a-z_]\w*(\.[a-z_]\w*)*\.[A-Z]\w*)|https?://|\b(rfc|iso|ieee|w3c|ietf)\b"
            r"|\bsee\b|\be\.g\.|\bex:|\bfor example\b|\bexample:",
        )
    ),
    re.IGNORECASE,
)
# Words in a field's name that say what its content is by convention: a value the
# server mints and the client only passes back (a page token, a cursor, an etag),
# and for a map, headers (keys are header names, values header values).
_OPAQUE_NAME_WORDS = frozenset({"token", "cursor", "etag", "continuation"})
_HEADER_NAME_WORDS = frozenset({"header", "headers"})
# Words in a sibling field's name that say it carries this field's format.
_FORMAT_WORDS = frozenset({"encoding", "format", "mime", "codec", "schema", "compression"})


def _without_name(comment: str, name: str) -> str:
    """The comment without the field's own name, which says nothing new about it."""
    spelled = r"[\s_]+".join(re.escape(word) for word in tokens(name))
    return re.sub(rf"\b{spelled}\b", " ", comment, flags=re.IGNORECASE)


def _documented(element: Element, is_map: bool) -> bool:
    """Whether the bag's content is described: by its comment, by the message's comment
    naming it, by a sibling field that carries its format, or by a conventional name."""
    if _DESCRIBES_CONTENT.search(_without_name(element.location.comments, element.name)):
        return True
    own = set(tokens(element.name))
    if _OPAQUE_NAME_WORDS & own or (is_map and _HEADER_NAME_WORDS & own):
        return True
    message = element.parent
    if message is None:
        return False
    for sibling in message.proto.field:
        words = tokens(sibling.name)
        if sibling.name != element.name and (
            _FORMAT_WORDS & set(words) or words[-2:] in (["content", "type"], ["media", "type"])
        ):
            return True
    about_message = message.location.comments
    return bool(
        re.search(rf"\b{re.escape(element.name)}\b", about_message, re.IGNORECASE)
        and _DESCRIBES_CONTENT.search(about_message)
    )


@rule(
    "UNTYPED_BAG",
    Kind.FIELD,
    severity=Severity.WARNING,
    rationale="map<string, string> and bytes carry a schema that no compiler checks; unless a "
    "comment describes the content (format, size, byte order, keys, a referenced field or "
    "standard, an example, or that it is opaque) Go and Python each guess.",
    fix="Use a message with typed fields, or describe the content in the field's comment "
    "(e.g. `Keys: region, zone; values are lower-case` or `UTF-8 JSON of fleet.v1.Report`).",
)
def untyped_bag(element: Element, ctx: LintContext) -> str | None:
    if in_map_entry(element):
        return None
    entry = map_entry(element, ctx)
    if entry is not None:
        key, value = map_key_value(entry)
        if key.type != F.TYPE_STRING or value.type != F.TYPE_STRING:
            return None
        problem = (
            "Go sees a map[string]string and Python a dict of str, so which keys exist and "
            "how values are formatted is a convention each side re-implements unchecked"
        )
    elif element.proto.type == F.TYPE_BYTES:
        problem = (
            "Go gets []byte and Python bytes with nothing saying how to decode them, and "
            "JSON shows only base64"
        )
    else:
        return None
    if _documented(element, is_map=entry is not None):
        return None
    return (
        f"field `{element.full_name}` is {declared_type(element, ctx)} and no comment "
        f"describes its content (format, size, keys, or that it is opaque): {problem}"
    )


# -- UNTYPED_DYNAMIC ----------------------------------------------------------------

_ANY = "google.protobuf.Any"
_JSON_LIKE = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}


def _dynamic_problem(type_name: str) -> str | None:
    if type_name == _ANY:
        return (
            "the packed type must be linked into both programs (Go imports its package, "
            "Python its _pb2 module) or protojson and json_format fail at run time, and "
            "neither compiler checks what is packed"
        )
    if type_name in _JSON_LIKE:
        short = type_name.rsplit(".", 1)[1]
        return (
            "every number in it is a double (int64 values above 2^53 change), Go code "
            f"walks a *structpb.{short} and Python a {short} of untyped values, and no "
            "compiler checks the shape"
        )
    return None


@rule(
    "UNTYPED_DYNAMIC",
    Kind.FIELD,
    severity=Severity.WARNING,
    rationale="Any, Struct, Value and ListValue defer the schema to run time, where Go and "
    "Python must agree without a compiler.",
    fix="Use a concrete message, or a oneof of concrete messages for a closed set of shapes.",
)
def untyped_dynamic(element: Element, ctx: LintContext) -> str | None:
    if in_map_entry(element):
        return None
    values, _ = value_field(element, ctx)
    problem = _dynamic_problem(values.type_name.lstrip("."))
    if problem is None:
        return None
    return f"field `{element.full_name}` is {declared_type(element, ctx)}: {problem}"


# -- BOOL_AS_STRING --------------------------------------------------------------------


def _sounds_boolean(name: str) -> bool:
    words = tokens(name)
    if words in (["enabled"], ["disabled"]):
        return True
    return len(words) > 1 and (
        words[0] in ("is", "has") or words[-1] in ("enabled", "disabled", "flag")
    )


@rule(
    "BOOL_AS_STRING",
    Kind.FIELD,
    severity=Severity.WARNING,
    rationale="A yes/no held in a string has many spellings and every non-empty string, "
    '"false" included, is truthy in Python.',
    fix="Use bool, or an enum when there are more than two states.",
)
def bool_as_string(element: Element, ctx: LintContext) -> str | None:
    field = element.proto
    if in_map_entry(element) or field.type != F.TYPE_STRING or field.label == F.LABEL_REPEATED:
        return None
    if not _sounds_boolean(element.name):
        return None
    return (
        f"field `{element.full_name}` is a string but its name says it is a yes/no: in Python "
        "`if msg." + element.name + ':` is true for "false", while Go code compares with '
        '"true" and misses "True" or "1"'
    )
