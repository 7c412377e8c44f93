"""Confluent's wire format for Protobuf payloads, over any transport (bytes in, bytes out).

A frame is::

    byte 0       magic byte, always 0
    bytes 1-4    schema id, unsigned 32-bit big-endian
    then         message indexes: the path of the message inside its .proto file,
                 as a count followed by that many indexes, each a zigzag varint;
                 the path [0] (the file's first top-level message) is written as
                 the single byte 0 (a count of zero)
    the rest     the message in the Protobuf binary encoding

Confluent's Python client once wrote the indexes as plain (unsigned) varints; that
"deprecated format" is read and written with ``zigzag=False``. The two cannot be told
apart from the bytes, so producer and consumer must agree on it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar, cast

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.message import DecodeError, Message

MAGIC = 0
HEADER_SIZE = 5  # magic byte and schema id
_MAX_VARINT_BYTES = 5  # Confluent reads the indexes as 32-bit varints
_MAX_INDEX = 2**31 - 1

M = TypeVar("M", bound=Message)
# Returns the .proto file registered under a schema id, or None when the id is unknown.
Resolver = Callable[[int], FileDescriptor | None]


class FrameError(ValueError):
    """A frame that cannot be read; `schema_id` is set once the header has been read."""

    def __init__(self, message: str, schema_id: int | None = None) -> None:
        super().__init__(message)
        self.schema_id = schema_id


class ShortFrameError(FrameError):
    """Fewer bytes than the header needs."""


class BadMagicByteError(FrameError):
    """The first byte is not 0: not a Confluent frame."""


class BadVarintError(FrameError):
    """The message-index array is truncated, overlong, or has a negative count."""


class IndexOutOfRangeError(FrameError):
    """The message indexes name no message of the schema's file."""


class UnknownSchemaIdError(FrameError):
    """The resolver does not know the schema id."""


class WrongMessageTypeError(FrameError):
    """The frame holds another message type than the consumer expects (and, read through
    a registry, one not compatible with it under the subject's mode)."""

    def __init__(
        self,
        message: str,
        schema_id: int,
        expected: str,
        actual: str,
        subjects: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, schema_id)
        self.expected = expected
        self.actual = actual
        self.subjects = subjects


class PayloadDecodeError(FrameError):
    """The message bytes do not parse as the expected type."""


class Frame(NamedTuple):
    """A decoded frame; unpacks as `schema_id, indexes, payload`."""

    schema_id: int
    indexes: tuple[int, ...]
    payload: bytes


def encode(payload: bytes, schema_id: int, indexes: Sequence[int], *, zigzag: bool = True) -> bytes:
    """Frames already-serialized message bytes."""
    if not 0 <= schema_id <= 0xFFFFFFFF:
        raise ValueError(f"schema id {schema_id} does not fit in 4 unsigned bytes")
    if not indexes or any(not 0 <= i <= _MAX_INDEX for i in indexes):
        raise ValueError(
            f"message indexes {list(indexes)} must be a non-empty path of indexes "
            f"from 0 to {_MAX_INDEX}"
        )
    out = bytearray([MAGIC])
    out += schema_id.to_bytes(4, "big")
    if list(indexes) == [0]:
        out.append(0)
    else:
        _put_varint(out, len(indexes), zigzag)
        for index in indexes:
            _put_varint(out, index, zigzag)
    out += payload
    return bytes(out)


def decode(frame: bytes, *, zigzag: bool = True) -> Frame:
    """Splits a frame into schema id, message indexes and message bytes."""
    if len(frame) < HEADER_SIZE + 1:
        raise ShortFrameError(
            f"frame of {len(frame)} bytes is shorter than the {HEADER_SIZE + 1}-byte minimum "
            "(magic byte, 4-byte schema id, message indexes)"
        )
    if frame[0] != MAGIC:
        raise BadMagicByteError(f"frame starts with byte {frame[0]:#04x}, not the magic byte 0x00")
    schema_id = int.from_bytes(frame[1:5], "big")
    count, at = _get_varint(frame, HEADER_SIZE, zigzag, schema_id, "message index count")
    if count < 0 or count > len(frame) - at:
        raise BadVarintError(
            f"schema id {schema_id}: message index count {count} is impossible "
            f"with {len(frame) - at} bytes left",
            schema_id,
        )
    if count == 0:
        return Frame(schema_id, (0,), bytes(frame[at:]))
    indexes = []
    for n in range(count):
        index, at = _get_varint(frame, at, zigzag, schema_id, f"message index {n}")
        indexes.append(index)
    return Frame(schema_id, tuple(indexes), bytes(frame[at:]))


def message_indexes(descriptor: Descriptor) -> tuple[int, ...]:
    """The index path of a message inside its file: top-level index, then nested ones."""
    names: list[str] = []
    current: Descriptor | None = descriptor
    while current is not None:
        names.append(current.name)
        current = current.containing_type
    names.reverse()
    path: list[int] = []
    level = list(_file_proto(descriptor.file).message_type)
    for name in names:
        index = next(i for i, m in enumerate(level) if m.name == name)
        path.append(index)
        level = list(level[index].nested_type)
    return tuple(path)


def message_name_at(file: FileDescriptor, indexes: Sequence[int], schema_id: int) -> str:
    """The full name of the message at an index path of a file."""
    return message_name_in(_file_proto(file), indexes, schema_id)


def message_name_in(
    proto: descriptor_pb2.FileDescriptorProto, indexes: Sequence[int], schema_id: int
) -> str:
    """The full name of the message at an index path of a file, from its descriptor proto
    (what a registry serves for an id)."""
    level = list(proto.message_type)
    names = [proto.package] if proto.package else []
    for depth, index in enumerate(indexes):
        if not 0 <= index < len(level):
            where = ".".join(names[1 if proto.package else 0 :]) or "top level"
            raise IndexOutOfRangeError(
                f"schema id {schema_id}: message index {index} at depth {depth} of "
                f"{list(indexes)} is out of range: {proto.name} has {len(level)} "
                f"message(s) at {where}",
                schema_id,
            )
        names.append(level[index].name)
        level = list(level[index].nested_type)
    return ".".join(names)


def encode_message(message: Message, schema_id: int, *, zigzag: bool = True) -> bytes:
    """Frames a generated message; its indexes come from its descriptor."""
    payload = message.SerializeToString(deterministic=True)
    # types-protobuf also names upb's Descriptor class, which is the same interface.
    descriptor = cast(Descriptor, message.DESCRIPTOR)
    return encode(payload, schema_id, message_indexes(descriptor), zigzag=zigzag)


def decode_message(
    frame: bytes, expected: type[M], resolver: Resolver, *, zigzag: bool = True
) -> M:
    """Reads a frame as `expected`, refusing a frame whose schema id names another type."""
    parts = decode(frame, zigzag=zigzag)
    file = resolver(parts.schema_id)
    if file is None:
        raise UnknownSchemaIdError(
            f"schema id {parts.schema_id} is unknown to the resolver", parts.schema_id
        )
    actual = message_name_at(file, parts.indexes, parts.schema_id)
    wanted = expected.DESCRIPTOR.full_name
    if actual != wanted:
        raise WrongMessageTypeError(
            f"schema id {parts.schema_id} (file {file.name}, indexes {list(parts.indexes)}) "
            f"holds {actual}, but the consumer expects {wanted}",
            parts.schema_id,
            expected=wanted,
            actual=actual,
        )
    message = expected()
    try:
        message.ParseFromString(parts.payload)
    except DecodeError as exc:
        raise PayloadDecodeError(
            f"schema id {parts.schema_id}: payload of {len(parts.payload)} bytes "
            f"does not parse as {wanted}: {exc}",
            parts.schema_id,
        ) from exc
    return message


@functools.lru_cache(maxsize=256)
def _file_proto(file: FileDescriptor) -> descriptor_pb2.FileDescriptorProto:
    # The serialized file keeps declaration order, which the indexes count in.
    proto = descriptor_pb2.FileDescriptorProto()
    proto.ParseFromString(file.serialized_pb)
    return proto


def _put_varint(out: bytearray, value: int, zigzag: bool) -> None:
    bits = ((value << 1) ^ (value >> 31)) & 0xFFFFFFFF if zigzag else value
    while bits >= 0x80:
        out.append((bits & 0x7F) | 0x80)
        bits >>= 7
    out.append(bits)


def _get_varint(frame: bytes, at: int, zigzag: bool, schema_id: int, what: str) -> tuple[int, int]:
    bits = 0
    for n in range(_MAX_VARINT_BYTES):
        if at + n >= len(frame):
            raise BadVarintError(
                f"schema id {schema_id}: frame ends inside the varint of the {what} "
                f"(byte {at + n})",
                schema_id,
            )
        byte = frame[at + n]
        bits |= (byte & 0x7F) << (7 * n)
        if not byte & 0x80:
            if bits > 0xFFFFFFFF:
                break
            value = (bits >> 1) ^ -(bits & 1) if zigzag else bits
            return value, at + n + 1
    raise BadVarintError(
        f"schema id {schema_id}: the varint of the {what} at byte {at} is longer than "
        f"{_MAX_VARINT_BYTES} bytes or exceeds 32 bits",
        schema_id,
    )
