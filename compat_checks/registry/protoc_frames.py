"""The compile worker's frames (`protoc_worker.py` answers, `compiler.py` asks): a
4-byte big-endian length, then that many bytes of JSON. A request is
`{"args": [...]}` (protoc's command line; the files it reads and writes live in
the caller's temporary folder); an answer is `{"code": int, "stderr": str}`."""

from __future__ import annotations

import json
import struct
from typing import BinaryIO

_HEADER = struct.Struct(">I")
HEADER_SIZE = _HEADER.size


def encode(message: dict[str, object]) -> bytes:
    """One frame: the length, then the JSON."""
    body = json.dumps(message).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def body_size(header: bytes) -> int:
    """The length a frame's header announces."""
    (size,) = _HEADER.unpack(header)
    return int(size)


def read_frame(stream: BinaryIO) -> object | None:
    """The next frame's JSON from a blocking stream; None at end of input."""
    header = _read_exactly(stream, HEADER_SIZE)
    if header is None:
        return None
    body = _read_exactly(stream, body_size(header))
    return None if body is None else json.loads(body)


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    """`size` bytes, or None at end of input (before or inside them)."""
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
