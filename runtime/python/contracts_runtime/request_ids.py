"""Where a method's request message keeps the request id the call log line carries.

Decided once per method from the request type's descriptor (the interceptor caches the
answer at the first request), so a call reads one or two attributes instead of searching
the message. In order of preference:

- the request's own scalar `request_id` field (`PredictRequest.request_id`), logged as
  `request_id`;
- a singular message field whose type has one, one level down
  (`PredictStreamRequest.request.request_id`), logged as `request_id`;
- a repeated message field whose type has one (`BatchPredictRequest.requests[*]`), logged
  as `request_ids`: the non-empty ids of the first `MAX_ITEM_IDS` items.

The first such field by field number wins at each step. Deeper nesting is not searched:
an id two levels down is not one a contract means as the call's id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

FIELD = "request_id"
MAX_ITEM_IDS = 16

# One id, the items' ids, or None for none.
Ids = str | list[str] | None


@dataclass(frozen=True)
class RequestId:
    """`key` is the log field; `read(request)` the id, the ids, or None for none."""

    key: str
    read: Callable[[Any], Ids]


def _none(request: Any) -> None:
    return None


NONE = RequestId(FIELD, _none)


def _own(descriptor: Descriptor | None) -> FieldDescriptor | None:
    """The message type's scalar, singular `request_id` field, if it has one."""
    if descriptor is None:
        return None
    found = descriptor.fields_by_name.get(FIELD)
    if found is None or found.message_type is not None or found.is_repeated:
        return None
    return found


def _text(value: object) -> str | None:
    text = str(value)
    return text or None


def _own_reader(request: Any) -> str | None:
    return _text(request.request_id)


def _inner_reader(name: str) -> Callable[[Any], str | None]:
    def inner(request: Any) -> str | None:
        return _text(getattr(request, name).request_id)

    return inner


def _items_reader(name: str) -> Callable[[Any], list[str] | None]:
    def items(request: Any) -> list[str] | None:
        found = [
            str(item.request_id)
            for item in getattr(request, name)[:MAX_ITEM_IDS]
            if item.request_id
        ]
        return found or None

    return items


def find_request_id(descriptor: Descriptor | None) -> RequestId:
    """How to read the request id of requests of this message type (`NONE` when the type
    has none within one level, or the request is not a protobuf message)."""
    if descriptor is None:
        return NONE
    if _own(descriptor) is not None:
        return RequestId(FIELD, _own_reader)
    fields = sorted(descriptor.fields, key=lambda f: f.number)
    nested = [f for f in fields if f.message_type is not None and _own(f.message_type)]
    singular = [f for f in nested if not f.is_repeated]
    if singular:
        return RequestId(FIELD, _inner_reader(singular[0].name))
    if nested:
        return RequestId(FIELD + "s", _items_reader(nested[0].name))
    return NONE
