"""Numbers that change value between Go, Python and JavaScript."""

from __future__ import annotations

import re

from google.protobuf import descriptor_pb2

from compat_checks.lint.context import LintContext
from compat_checks.lint.registry import rule
from compat_checks.lint.rules._common import (
    INT64_TYPES,
    F,
    declared_type,
    in_map_entry,
    tokens,
    value_field,
)
from contracts_core.descriptors import Element, Kind
from contracts_core.findings import Severity


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# What a 64-bit integer field's name says about the size of its values. Only
# values above 2^53 change in JavaScript, and most int64 fields never get there:
# counts, sizes, dimensions, line numbers, ports, versions, offsets into a file
# or buffer (2^53 bytes is 8 PiB), device indexes, and times in seconds,
# milliseconds or microseconds (1.7e15 microseconds since 1970 < 2^53 = 9.0e15).
# Identifiers, hashes, random bits, addresses, sequence numbers, nanosecond times
# (1.7e18 since 1970; 2^53 ns is 104 days), byte totals and arbitrary values do.
# A name that says neither is left alone: in the real trees we measured
# (docs/lint-precision.md) those were nearly all counts.
_LARGE_WORDS = {
    "an identifier": _words("id ids uid guid ref serial"),
    "a hash or random bits": _words(
        "hash hashes fingerprint checksum digest crc nonce seed salt mask bits random"
    ),
    "an address": _words("address addr ptr pointer handle"),
    "a sequence number": _words("seq sequence seqno"),
    "nanoseconds": _words("ns nano nanos nanosecond nanoseconds"),
    "an arbitrary value": _words("value values int integer contents param"),
}
_SMALL_WORDS = _words(
    " ".join(
        (
            # counts and sizes of things, and how many were dropped, skipped, ...
            "count counts counter num number size sizes len length limit capacity",
            "dropped skipped missed rejected remaining",
            # dimensions, and positions within small things
            "dim dims dimension dimensions shape rank width height depth",
            "line lines lineno column col port index idx indexes indices position pos",
            # small ordinals
            "priority priorities level levels attempt attempts retries",
            "version versions revision generation increment",
            # times in units whose values stay below 2^53
            "ms millis milliseconds us micros microseconds s sec secs seconds",
            "minutes hours days",
        )
    )
)
# An identifier of one of these is an index into a small set (`device_id`, a GPU).
_SMALL_SETS = frozenset({"device", "gpu", "cpu", "core", "shard", "partition", "slot"})
# `bytes` with one of these is the size of one thing; otherwise a byte total.
_SIZE_WORDS = frozenset({"size", "length", "len", "limit", "max", "min"})


def magnitude(name: str) -> tuple[str, str]:
    """("large", what the name says it holds), ("small", ...) or ("unknown", "")
    for a 64-bit integer field; the last word decides, then the words before it."""
    words = tokens(name)
    if "bytes" in words:
        if _SIZE_WORDS & set(words):
            return "small", "a size"
        return "large", "a byte total"
    if len(words) > 1 and words[-1] == "id" and words[-2] in _SMALL_SETS:
        return "small", "an index"
    for word in reversed(words):
        if word in _SMALL_WORDS:
            return "small", word
        for what, large in _LARGE_WORDS.items():
            if word in large:
                return "large", what
    return "unknown", ""


@rule(
    "INT64_JSON_PRECISION",
    Kind.FIELD,
    severity=Severity.WARNING,
    rationale="64-bit integers are strings in protojson but numbers in hand-rolled JSON, and "
    "JavaScript's Number rounds integers above 2^53; flagged when the name says the values "
    "get there (ids, hashes, addresses, offsets, sequence numbers, nanoseconds, byte totals, "
    "arbitrary values), not for counts, sizes, dimensions, lines, ports, versions or coarse times.",
    fix="Use string for identifiers and hashes, int32 when the range allows, or suppress with "
    "a reason that states the bound (e.g. `always < 2^53`).",
)
def int64_json_precision(element: Element, ctx: LintContext) -> str | None:
    if in_map_entry(element) or not ctx.travels_as_json(element.package):
        return None
    values, _ = value_field(element, ctx)
    if values.type not in INT64_TYPES:
        return None
    if element.proto.options.jstype == descriptor_pb2.FieldOptions.JS_STRING:
        return None  # declared as a string for JavaScript on purpose
    size, what = magnitude(element.name)
    if size != "large":
        return None
    return (
        f"field `{element.full_name}` is {declared_type(element, ctx)} in package "
        f"`{element.package}`, which travels as JSON, and its name says it holds {what}, "
        "whose values can exceed 2^53: Go protojson and Python json_format write it as a "
        "string, but hand-rolled JSON (Go encoding/json on the generated struct, Python "
        "json.dumps of a dict) writes a number, and JavaScript's JSON.parse rounds integers "
        "above 2^53 (9007199254740993 becomes 9007199254740992)"
    )


# Name words that call for more than float32's ~7 significant digits. Money first:
# binary floating point never holds cents exactly. "weight" is left out on purpose:
# model weights are float32 by design.
_MONEY = frozenset(
    {"amount", "price", "cost", "balance", "fee", "total", "subtotal", "money", "tax", "revenue"}
)
_FRACTION = frozenset(
    {
        "score",
        "probability",
        "prob",
        "confidence",
        "likelihood",
        "rate",
        "ratio",
        "percent",
        "percentage",
        "pct",
    }
)


_APPROXIMATE = re.compile(r"\b(approximate(ly)?|estimated?|roughly)\b", re.IGNORECASE)


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


@rule(
    "FLOAT32_PRECISION",
    Kind.FIELD,
    severity=Severity.WARNING,
    rationale="float keeps about 7 significant digits: scores, probabilities and money read "
    "back changed in Python (a double) and drift in Go float32 arithmetic (not flagged when "
    "the comment calls the value approximate or estimated).",
    fix="Use double; for money use integer minor units (int64 cents) or a decimal string.",
)
def float32_precision(element: Element, ctx: LintContext) -> str | None:
    if in_map_entry(element):
        return None
    values, _ = value_field(element, ctx)
    if values.type != F.TYPE_FLOAT:
        return None
    if _APPROXIMATE.search(element.location.comments):
        return None  # a measurement whose own error dwarfs float's 7 digits
    words = {_singular(t) for t in tokens(element.name)}
    money = sorted(words & _MONEY)
    fraction = sorted(words & _FRACTION)
    if not money and not fraction:
        return None
    head = (
        f"field `{element.full_name}` is {declared_type(element, ctx)} (32-bit) but its "
        f"name says `{(money or fraction)[0]}`: float keeps about 7 significant digits, so "
        "Python reads 0.1 back as 0.10000000149011612"
    )
    if money:
        return (
            head + " and Go float32 sums drift; money in binary floating point never adds up "
            "to exact cents: use integer minor units (int64 cents) or a decimal string"
        )
    return head + " and 0.99999999 becomes 1.0 in both Go and Python: use double"
