"""Facts about descriptors and generated code that several rule families share."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TypeVar, cast

from google.protobuf import descriptor_pb2, message

from compat_checks.lint.context import LintContext
from contracts_core.descriptors import Element, FieldProto, Kind
from contracts_core.golang import go_camel_case

T = TypeVar("T")

__all__ = ["go_camel_case"]

F = descriptor_pb2.FieldDescriptorProto

INTEGER_TYPES = frozenset(
    {
        F.TYPE_INT32,
        F.TYPE_INT64,
        F.TYPE_UINT32,
        F.TYPE_UINT64,
        F.TYPE_SINT32,
        F.TYPE_SINT64,
        F.TYPE_FIXED32,
        F.TYPE_FIXED64,
        F.TYPE_SFIXED32,
        F.TYPE_SFIXED64,
    }
)
INT64_TYPES = frozenset(
    {F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_SINT64, F.TYPE_FIXED64, F.TYPE_SFIXED64}
)

# Public attributes of a generated Python message class. dir(Message) has the
# methods every message has; Extensions and FindInitializationErrors exist on
# generated classes under upb, RegisterExtension under the pure-Python runtime.
PY_MESSAGE_ATTRS = frozenset(
    {n for n in dir(message.Message) if not n.startswith("_")}
    | {"Extensions", "FindInitializationErrors", "RegisterExtension"}
)


def field_number_constant(field_name: str) -> str:
    """The class constant Python generates for a field: `FOO_FIELD_NUMBER`."""
    return f"{field_name.upper()}_FIELD_NUMBER"


def in_map_entry(element: Element) -> bool:
    """Whether the element is, or sits inside, a synthesized map entry message."""
    return element.in_map_entry


def map_entry(element: Element, ctx: LintContext) -> Element | None:
    """The map entry message of a map field, or None for any other field."""
    field: FieldProto = element.proto
    if field.label != F.LABEL_REPEATED or field.type != F.TYPE_MESSAGE:
        return None
    target = ctx.resolve(field.type_name)
    return target if target is not None and target.is_map_entry else None


def map_key_value(entry: Element) -> tuple[FieldProto, FieldProto]:
    fields = {f.number: f for f in entry.proto.field}
    return fields[1], fields[2]


def value_field(element: Element, ctx: LintContext) -> tuple[FieldProto, bool]:
    """The field that holds the values (a map's value field, else the field itself)
    and whether the element is a map."""
    entry = map_entry(element, ctx)
    if entry is None:
        return element.proto, False
    return map_key_value(entry)[1], True


def type_word(field: FieldProto) -> str:
    """How a field's type reads in .proto: `int64`, `google.protobuf.Any`."""
    if field.type_name:
        return field.type_name.lstrip(".")
    return F.Type.Name(field.type)[len("TYPE_") :].lower()


def declared_type(element: Element, ctx: LintContext) -> str:
    """The field's declaration as written: `repeated int64`, `map<string, int64>`."""
    entry = map_entry(element, ctx)
    if entry is not None:
        key, value = map_key_value(entry)
        return f"map<{type_word(key)}, {type_word(value)}>"
    field: FieldProto = element.proto
    prefix = "repeated " if field.label == F.LABEL_REPEATED else ""
    return prefix + type_word(field)


def tokens(name: str) -> list[str]:
    """The lower-case words of a snake_case name."""
    return [t for t in name.lower().split("_") if t]


_memo: weakref.WeakKeyDictionary[LintContext, dict[str, object]] = weakref.WeakKeyDictionary()


def per_run(ctx: LintContext, key: str, compute: Callable[[LintContext], T]) -> T:
    """A fact about the whole image, computed once per lint run."""
    slot = _memo.setdefault(ctx, {})
    if key not in slot:
        slot[key] = compute(ctx)
    return cast(T, slot[key])


def rpc_responses(ctx: LintContext) -> dict[str, list[str]]:
    """Message full name -> the `Service.Method`s that return it as their one response
    (unary or client-streaming), over the whole image. A server stream's messages are
    items, not the call's outcome, so they are left out."""

    def compute(c: LintContext) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in c.elements:
            if e.kind is Kind.METHOD and e.parent is not None and not e.proto.server_streaming:
                out.setdefault(e.proto.output_type.lstrip("."), []).append(
                    f"{e.parent.name}.{e.name}"
                )
        return out

    return per_run(ctx, "rpc_responses", compute)
