"""Numbers that change value between Go, Python and JavaScript."""

from __future__ import annotations

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


@rule(
    "INT64_JSON_PRECISION",
    Kind.FIELD,
    severity=Severity.WARNING,
    rationale="64-bit integers are strings in protojson but numbers in hand-rolled JSON, and "
    "JavaScript's Number rounds integers above 2^53, so JSON clients can read a different value.",
    fix="Use string for identifiers, int32 when the range allows, or suppress with a reason "
    "that states the bound (e.g. `always < 2^53`).",
)
def int64_json_precision(element: Element, ctx: LintContext) -> str | None:
    if in_map_entry(element) or not ctx.travels_as_json(element.package):
        return None
    values, _ = value_field(element, ctx)
    if values.type not in INT64_TYPES:
        return None
    if element.proto.options.jstype == descriptor_pb2.FieldOptions.JS_STRING:
        return None  # declared as a string for JavaScript on purpose
    return (
        f"field `{element.full_name}` is {declared_type(element, ctx)} in package "
        f"`{element.package}`, which travels as JSON: Go protojson and Python json_format "
        "write it as a string, but hand-rolled JSON (Go encoding/json on the generated "
        "struct, Python json.dumps of a dict) writes a number, and JavaScript's JSON.parse "
        "rounds integers above 2^53 (9007199254740993 becomes 9007199254740992)"
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


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


@rule(
    "FLOAT32_PRECISION",
    Kind.FIELD,
    severity=Severity.WARNING,
    rationale="float keeps about 7 significant digits: scores, probabilities and money read "
    "back changed in Python (a double) and drift in Go float32 arithmetic.",
    fix="Use double; for money use integer minor units (int64 cents) or a decimal string.",
)
def float32_precision(element: Element, ctx: LintContext) -> str | None:
    if in_map_entry(element):
        return None
    values, _ = value_field(element, ctx)
    if values.type != F.TYPE_FLOAT:
        return None
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
