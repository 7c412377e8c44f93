"""The process the registry's compiler runs protoc in (`compiler.py` starts one per
registry process): `python -m compat_checks.registry.protoc_worker`.

Requests arrive on standard input and answers leave on standard output, one
frame each (`protoc_frames.py`). End of input ends the process, so the worker
goes when its registry does. Nothing imports this module: run as `-m`, it is
never found already imported (which runpy would warn about on stderr).

protoc (grpc_tools' entry point) reports only on file descriptor 2. Pointing
that descriptor at a temporary file per call is safe here, unlike in the
server: nothing else in this process writes while protoc runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
from typing import BinaryIO

from grpc_tools import protoc  # type: ignore[import-untyped]  # no stubs or py.typed

from .protoc_frames import encode, read_frame


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
    while (request := read_frame(requests)) is not None:
        assert isinstance(request, dict), request
        code, stderr = run([str(a) for a in request["args"]])
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
