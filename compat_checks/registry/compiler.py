"""Schema text to descriptors, without a buf workspace: grpcio-tools' protoc, run
in this process, on a temporary folder.

A schema arrives here as .proto source: the service first writes a base64
FileDescriptorProto (what the confluent-kafka clients send) as text
(`proto_text.render`). Its references arrive compiled (each a stored
FileDescriptorSet, its root renamed to the reference's import name) and reach
protoc through --descriptor_set_in; well-known types come from grpcio-tools'
own include folder, so they need no reference. A compile error is 42201 with
protoc's message, which names the file, line and column.

protoc runs in-process (grpc_tools' entry point) rather than as a subprocess: an
interpreter start per request capped registration at a few per second. The
entry point writes its diagnostics to file descriptor 2 and is not documented as
thread-safe, so calls are serialised by one lock, with descriptor 2 pointed at a
temporary file for the call. Outcomes (compiled set or error message) are kept
in a bounded LRU keyed by the schema text and its dependencies' content, so a
schema seen before (a re-registration, a lookup, a compatibility check) is not
compiled again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError
from grpc_tools import protoc  # type: ignore[import-untyped]  # no stubs or py.typed

from .errors import invalid_schema

# Well-known types ship with protoc; a client's copy of them (in a reference's set)
# is left out so protoc never sees two versions of one file.
WELL_KNOWN_PREFIX = "google/protobuf/"
ROOT_NAME = "schema.proto"
CACHE_SIZE = 1024  # compile outcomes kept; a small schema's set is a few KiB

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
    """protoc's exit code and what it wrote to standard error."""
    with _PROTOC_LOCK, tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(captured.fileno(), 2)
            code = int(protoc.main(args))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        return code, captured.read().decode("utf-8", errors="replace")


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
