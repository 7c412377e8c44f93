"""Schema text to descriptors, without a buf workspace: grpcio-tools' protoc on a
temporary folder.

A schema arrives here as .proto source: the service first writes a base64
FileDescriptorProto (what the confluent-kafka clients send) as text
(`proto_text.render`). Its references arrive compiled (each a stored
FileDescriptorSet, its root renamed to the reference's import name) and reach
protoc through --descriptor_set_in; well-known types come from grpcio-tools'
own include folder, so they need no reference. A compile error is 42201 with
protoc's message, which names the line and column.
"""

from __future__ import annotations

import base64
import binascii
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

from .errors import invalid_schema

# Well-known types ship with protoc; a client's copy of them (in a reference's set)
# is left out so protoc never sees two versions of one file.
WELL_KNOWN_PREFIX = "google/protobuf/"
_PROTOC_TIMEOUT_S = 60
ROOT_NAME = "schema.proto"


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


def compile_schema(
    text: str,
    dependencies: Iterable[descriptor_pb2.FileDescriptorProto],
    name: str | None = None,
) -> tuple[str, descriptor_pb2.FileDescriptorSet]:
    """The root file's name and the compiled set (the root and everything it imports).
    .proto text compiles as `name` when that is a plain relative path no dependency
    holds (a rendered descriptor keeps its file's name), else as `schema.proto`."""
    deps = {d.name: d for d in dependencies if not d.name.startswith(WELL_KNOWN_PREFIX)}
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
            sys.executable,
            "-m",
            "grpc_tools.protoc",
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
        try:
            proc = subprocess.run(
                args,
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=_PROTOC_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise invalid_schema(f"protoc did not finish in {_PROTOC_TIMEOUT_S} s") from None
        if proc.returncode != 0:
            message = (proc.stderr or proc.stdout).strip().replace(f"{source}/", "")
            raise invalid_schema(message or f"protoc exited with {proc.returncode}")
        compiled = descriptor_pb2.FileDescriptorSet()
        compiled.ParseFromString((folder / "out.pb").read_bytes())
    return root, compiled


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
