"""The process the registry's compiler runs protoc in (`compiler.py` starts one per
registry process): `python -m compat_checks.registry.protoc_worker`.

Requests arrive on standard input and answers leave on standard output, one
frame each: a 4-byte big-endian length, then that many bytes of JSON. A request
is `{"args": [...]}` (protoc's command line; the files it reads and writes live
in the caller's temporary folder); an answer is `{"code": int, "stderr": str}`.
End of input ends the process, so the worker goes when its registry does.

protoc (grpc_tools' entry point) reports only on file descriptor 2. Pointing
that descriptor at a temporary file per call is safe here, unlike in the
server: nothing else in this process writes while protoc runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import sys
import tempfile
from typing import BinaryIO

from grpc_tools import protoc  # type: ignore[import-untyped]  # no stubs or py.typed

MODULE = "compat_checks.registry.protoc_worker"
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


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    """`size` bytes, or None at end of input (before or inside them)."""
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def run(args: list[str]) -> tuple[int, str]:
    """protoc's exit code and what it wrote to standard error."""
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        try:
            os.dup2(captured.fileno(), 2)
            code = int(protoc.main(args))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        return code, captured.read().decode("utf-8", errors="replace")


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer requests until the input ends."""
    while True:
        header = _read_exactly(requests, HEADER_SIZE)
        if header is None:
            return
        body = _read_exactly(requests, body_size(header))
        if body is None:
            return
        args = json.loads(body)["args"]
        code, stderr = run([str(a) for a in args])
        answers.write(encode({"code": code, "stderr": stderr}))
        answers.flush()


def main() -> None:
    # Ctrl-C at a terminal reaches the whole process group; the registry decides
    # when to stop, and this process follows when its input ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Answers get a descriptor of their own, and descriptor 1 goes to standard
    # error: a stray print (from protoc or a library) cannot corrupt a frame.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    # A broken pipe: the registry went away mid-answer; nobody is left to tell.
    with contextlib.suppress(BrokenPipeError):
        serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
