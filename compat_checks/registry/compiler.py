"""Schema text to descriptors, without a buf workspace: grpcio-tools' protoc, run
in a worker process, on a temporary folder.

A schema arrives here as .proto source: the service first writes a base64
FileDescriptorProto (what the confluent-kafka clients send) as text
(`proto_text.render`). Its references arrive compiled (each a stored
FileDescriptorSet, its root renamed to the reference's import name) and reach
protoc through --descriptor_set_in; well-known types come from grpcio-tools'
own include folder, so they need no reference. A compile error is 42201 with
protoc's message, which names the file, line and column.

protoc (grpc_tools' entry point) runs in one long-lived worker process per
registry process (`protoc_worker.py`), started on the first compile and reused:
an interpreter start per request capped registration at a few per second, and
the entry point reports only on file descriptor 2, which the worker may point
at a file per call while the server's own descriptor 2 stays its log. Requests
go one at a time, under a lock; each waits at most `COMPILE_TIMEOUT_S`, after
which the worker is killed and the request fails with 50002. A worker found
dead is replaced: a request it was given first is sent once more to a fresh
one, and a fresh one's failure is 500. The worker ends with the registry
(end of its input; `stop_worker` on the server's way out). Outcomes (compiled
set or error message) are kept in a bounded LRU keyed by the schema text and
its dependencies' content, so a schema seen before (a re-registration, a
lookup, a compatibility check) is not compiled again.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import hashlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

from . import protoc_frames
from .errors import compile_failed, compile_timed_out, invalid_schema

# Well-known types ship with protoc; a client's copy of them (in a reference's set)
# is left out so protoc never sees two versions of one file.
WELL_KNOWN_PREFIX = "google/protobuf/"
ROOT_NAME = "schema.proto"
CACHE_SIZE = 1024  # compile outcomes kept; a small schema's set is a few KiB
# A compile takes milliseconds; one past this is stuck, and so is its worker.
COMPILE_TIMEOUT_S = 30.0
WORKER_MODULE = "compat_checks.registry.protoc_worker"
_STOP_WAIT_S = 5.0  # for a worker told to end (its input closed) before it is killed

_PROTOC_LOCK = threading.Lock()


def _include_dir() -> str:
    return str(resources.files("grpc_tools") / "_proto")


def decode_serialized(text: str) -> descriptor_pb2.FileDescriptorProto | None:
    """The FileDescriptorProto a base64 schema holds; None when the text is .proto source."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        raw = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        return None
    file = descriptor_pb2.FileDescriptorProto()
    try:
        file.ParseFromString(raw)
    except DecodeError:
        return None
    return file if file.name else None


@dataclass(frozen=True)
class _Outcome:
    """One compile's result: the root's name and the serialized set, or protoc's error."""

    root: str
    compiled: bytes
    error: str | None = None


class _LRU:
    """Compile outcomes by key, the least recently used dropped past `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, _Outcome] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> _Outcome | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, outcome: _Outcome) -> None:
        with self._lock:
            self._items[key] = outcome
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_CACHE = _LRU(CACHE_SIZE)


def clear_cache() -> None:
    """Forget every compile outcome (tests and benchmarks measure cold compiles)."""
    _CACHE.clear()


def compile_schema(
    text: str,
    dependencies: Iterable[descriptor_pb2.FileDescriptorProto],
    name: str | None = None,
) -> tuple[str, descriptor_pb2.FileDescriptorSet]:
    """The root file's name and the compiled set (the root and everything it imports).
    .proto text compiles as `name` when that is a plain relative path no dependency
    holds (a rendered descriptor keeps its file's name), else as `schema.proto`."""
    deps = {d.name: d for d in dependencies if not d.name.startswith(WELL_KNOWN_PREFIX)}
    key = _cache_key(text, deps, name)
    outcome = _CACHE.get(key)
    if outcome is None:
        outcome = _compile(text, deps, name)
        _CACHE.put(key, outcome)
    if outcome.error is not None:
        raise invalid_schema(outcome.error)
    # A fresh message per call: callers may change the files they get.
    return outcome.root, descriptor_pb2.FileDescriptorSet.FromString(outcome.compiled)


def _cache_key(
    text: str, deps: Mapping[str, descriptor_pb2.FileDescriptorProto], name: str | None
) -> str:
    digest = hashlib.sha256(text.encode("utf-8"))
    digest.update(b"\0name:%s\0" % (name or "").encode("utf-8"))
    for dep in sorted(deps):
        content = deps[dep].SerializeToString(deterministic=True)
        digest.update(b"\0%d:%s\0%d:" % (len(dep), dep.encode("utf-8"), len(content)))
        digest.update(content)
    return digest.hexdigest()


def _compile(
    text: str, deps: dict[str, descriptor_pb2.FileDescriptorProto], name: str | None
) -> _Outcome:
    with tempfile.TemporaryDirectory(prefix="registry-protoc-") as tmp:
        folder = Path(tmp)
        source = folder / "src"
        source.mkdir()
        if name is not None and name not in deps and _plain_path(name):
            root = name
        else:
            root = ROOT_NAME if ROOT_NAME not in deps else "registered_schema.proto"
        (source / root).parent.mkdir(parents=True, exist_ok=True)
        (source / root).write_text(text, encoding="utf-8")
        args = [
            "protoc",
            f"--proto_path={source}",
            f"--proto_path={_include_dir()}",
            "--include_imports",
            "--include_source_info",  # positions for findings
            f"--descriptor_set_out={folder / 'out.pb'}",
        ]
        if deps:
            given = descriptor_pb2.FileDescriptorSet(file=list(deps.values()))
            (folder / "deps.pb").write_bytes(given.SerializeToString())
            args.append(f"--descriptor_set_in={folder / 'deps.pb'}")
        args.append(root)
        code, diagnostics = _run_protoc(args)
        if code != 0:
            message = diagnostics.strip().replace(f"{source}/", "")
            return _Outcome(root, b"", message or f"protoc exited with {code}")
        return _Outcome(root, (folder / "out.pb").read_bytes())


def _run_protoc(args: list[str]) -> tuple[int, str]:
    """protoc's exit code and what it wrote to standard error, from the worker."""
    global _WORKER
    with _PROTOC_LOCK:
        while True:
            worker = _WORKER
            if worker is not None and not worker.usable():
                if worker.owner == os.getpid():
                    worker.kill()  # dead already: reaped, its pipes closed
                worker = None
            fresh = worker is None
            if worker is None:
                worker = _WORKER = _Worker.start()
            try:
                return worker.call(args, COMPILE_TIMEOUT_S)
            except _WorkerTimedOut:
                _WORKER = None
                worker.kill()
                raise compile_timed_out(COMPILE_TIMEOUT_S) from None
            except _WorkerGone as exc:
                _WORKER = None
                worker.kill()
                if fresh:
                    raise compile_failed(str(exc)) from None
                # A reused worker may have died between requests (killed, say);
                # the request goes once more, to a fresh one.


def stop_worker() -> None:
    """End the compile worker, if one runs (the next compile starts another)."""
    global _WORKER
    with _PROTOC_LOCK:
        worker, _WORKER = _WORKER, None
    if worker is not None and worker.owner == os.getpid():
        worker.stop()


class _WorkerGone(Exception):
    """The worker ended, or its pipes broke, before it answered."""


class _WorkerTimedOut(Exception):
    """No answer within the timeout."""


class _Worker:
    """One `protoc_worker` process and its two pipes."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.owner = os.getpid()  # a forked child must not share its parent's worker
        assert process.stdout is not None
        self._answers = process.stdout.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._answers, selectors.EVENT_READ)

    @classmethod
    def start(cls) -> _Worker:
        # Found by module name even when this package is on sys.path only by the
        # parent's own doing (a script run from a checkout).
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                bufsize=0,
            )
        except OSError as exc:
            raise compile_failed(f"the compile worker could not start: {exc}") from None
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def usable(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def call(self, args: list[str], timeout: float) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        self._send(protoc_frames.encode({"args": args}))
        header = self._receive(protoc_frames.HEADER_SIZE, deadline)
        body = self._receive(protoc_frames.body_size(header), deadline)
        try:
            answer = json.loads(body)
            return int(answer["code"]), str(answer["stderr"])
        except (ValueError, KeyError, TypeError) as exc:
            raise _WorkerGone(f"the compile worker answered something else: {exc}") from None

    def _send(self, frame: bytes) -> None:
        # A request is a few hundred bytes: the pipe's buffer takes it whole,
        # whatever the worker is doing.
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(frame)
        except OSError as exc:  # BrokenPipeError: the worker is gone
            raise _WorkerGone(self._ended(f"its input closed ({exc.strerror})")) from None

    def _receive(self, size: int, deadline: float) -> bytes:
        data = b""
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                raise _WorkerTimedOut()
            chunk = os.read(self._answers, size - len(data))
            if not chunk:
                raise _WorkerGone(self._ended("it ended without answering"))
            data += chunk
        return data

    def _ended(self, what: str) -> str:
        try:
            code = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return f"the compile worker failed: {what}"
        return f"the compile worker failed: {what} (exit status {code})"

    def kill(self) -> None:
        """Kill the process and reap it."""
        self.process.kill()
        self.process.wait()
        self._close_pipes()

    def stop(self) -> None:
        """Close its input (it exits at end of input); kill it if it lingers."""
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):  # a broken pipe: already gone
            self.process.stdin.close()
        try:
            self.process.wait(timeout=_STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        self._selector.close()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


_WORKER: _Worker | None = None
atexit.register(stop_worker)


def _plain_path(name: str) -> bool:
    parts = name.split("/")
    return (
        name.endswith(".proto")
        and not name.startswith("/")
        and all(p and p not in (".", "..") and "\\" not in p for p in parts)
    )


def files_of(data: bytes) -> list[descriptor_pb2.FileDescriptorProto]:
    compiled = descriptor_pb2.FileDescriptorSet()
    compiled.ParseFromString(data)
    return list(compiled.file)
