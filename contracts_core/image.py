"""The compile step: contracts -> one descriptor image, shared by every later step.

buf compiles the workspace once per content hash; lint, breaking and gen all read
the resulting FileDescriptorSet (with source info) instead of parsing .proto text
again. An unchanged tree costs one hash of its files and no compiler run.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

from contracts_core import buf, sources, tools
from contracts_core.descriptors import Model
from contracts_core.errors import CompileError, Diagnostic, ToolError, UsageError
from contracts_core.workspace import Workspace

_KEEP_IMAGES = 8


@dataclass
class Image:
    """A compiled descriptor image on disk, parsed on first use."""

    path: Path
    # Module-relative name -> workspace-relative path, for the workspace's own
    # files. Anything else in the image (well-known types, deps) is an import.
    targets: dict[str, str] = field(default_factory=dict)
    digest: str = ""

    @functools.cached_property
    def descriptor_set(self) -> descriptor_pb2.FileDescriptorSet:
        fds = descriptor_pb2.FileDescriptorSet()
        try:
            fds.ParseFromString(self.path.read_bytes())
        except (DecodeError, OSError) as exc:
            raise UsageError(f"{self.path}: not a readable descriptor image: {exc}") from None
        return fds

    @functools.cached_property
    def files(self) -> dict[str, descriptor_pb2.FileDescriptorProto]:
        return {f.name: f for f in self.descriptor_set.file}

    @functools.cached_property
    def model(self) -> Model:
        """The one descriptor model over every file of the image, built on first use."""
        return Model(self.descriptor_set.file)

    def target_files(self) -> list[descriptor_pb2.FileDescriptorProto]:
        """The workspace's own files, in the image's (dependency) order."""
        if not self.targets:
            return list(self.descriptor_set.file)
        return [f for f in self.descriptor_set.file if f.name in self.targets]

    def workspace_path(self, name: str) -> str:
        return self.targets.get(name, name)


def content_digest(ws: Workspace) -> tuple[str, dict[str, str]]:
    """Hash of everything that decides the image: sources, buf config, buf version."""
    protos = ws.proto_files()
    paths = [p.path for p in protos]
    # A v1 workspace's modules have their own buf.yaml and buf.lock, which decide the image too.
    configs = [f for f in ws.buf.files() if f not in sources.IMAGE_CONFIG_FILES]
    digest = sources.image_inputs_digest(ws.root, tools.BUF.pinned, [*configs, *paths])
    return digest, {proto.name: proto.path for proto in protos}


def compile_workspace(ws: Workspace, use_cache: bool = True) -> Image:
    """The workspace's image, from the cache when its inputs are unchanged."""
    digest, targets = content_digest(ws)
    if not targets:
        raise UsageError(
            f"{ws.root}: no .proto files in modules {[m.path for m in ws.buf.modules]}"
        )
    cache = ws.cache_dir / "images"
    cached = cache / f"{digest}.binpb"
    if use_cache and cached.is_file():
        os.utime(cached)
        return Image(path=cached, targets=targets, digest=digest)
    cache.mkdir(parents=True, exist_ok=True)
    build_image(ws.root, cached)
    prune(cache)
    return Image(path=cached, targets=targets, digest=digest)


def build_image(source_dir: Path, out: Path) -> None:
    """Run `buf build` on a directory and write the image atomically to `out`."""
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".build-", suffix=".binpb")
    os.close(fd)
    try:
        result = buf.run(["build", ".", "-o", tmp], cwd=source_dir)
        if result.returncode != 0:
            diagnostics = [
                Diagnostic(d.path, d.line, d.column, d.message) for d in result.diagnostics
            ] or [Diagnostic("", 0, 0, result.stderr.strip())]
            raise CompileError(diagnostics)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# The image formats buf reads and `buf build -o` writes, by extension, each
# optionally compressed (.gz, .zst). A file named otherwise (protoc's
# --descriptor_set_out: .pb, .desc, .protoset) is read as an uncompressed binary
# FileDescriptorSet, which is what protoc writes.
IMAGE_FORMATS = (".binpb", ".bin", ".json", ".txtpb", ".yaml")
IMAGE_COMPRESSIONS = (".gz", ".zst")
# Formats buf reads as they are, so the file itself can be handed to buf and parsed by us.
_BINARY_AS_IS = (".binpb", ".bin")


def load_image_file(path: Path, cache: Path) -> Image:
    """An image a user handed us (`buf build -o`, protoc --descriptor_set_out).

    Anything other than a plain binary image is converted once, by buf itself,
    into a binary image under `cache` (keyed by the file's bytes), so buf's own
    metadata (which files are imports) survives and every later step reads one format.
    """
    if not path.is_file():
        raise UsageError(f"image file {path} does not exist")
    path = path.resolve()
    name = path.name.lower()
    if name.endswith(_BINARY_AS_IS):
        image = Image(path=path)
    else:
        image = Image(path=_convert(path, name, cache))
    _ = image.descriptor_set  # fail now, with the file named, if it is not an image
    return image


def _convert(path: Path, name: str, cache: Path) -> Path:
    data = sources.read_bytes(path)
    digest = hashlib.sha256(f"buf={tools.BUF.pinned}\0{name}\0".encode() + data).hexdigest()
    out = cache / f"file-{digest}.binpb"
    if out.is_file():
        os.utime(out)
        return out
    bare = name
    for suffix in IMAGE_COMPRESSIONS:
        bare = bare.removesuffix(suffix)
    if bare.endswith(IMAGE_FORMATS):
        source = str(path)  # buf infers format and compression from the name
    elif bare != name:
        raise UsageError(
            f"{path}: a compressed image must be named *.binpb, *.bin, *.json, *.txtpb or "
            f"*.yaml before its {name[len(bare) :]} (as `buf build -o` names them)"
        )
    else:
        source = f"{path}#format=binpb"
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=".convert-", suffix=".binpb")
    os.close(fd)
    try:
        # cwd: the cache folder, never a module of a workspace, so buf reads an image.
        try:
            result = buf.run(["build", source, "-o", tmp], cwd=cache)
        except ToolError as exc:
            raise UsageError(f"{path}: not a readable descriptor image: {exc}") from None
        if result.returncode != 0:
            reason = "; ".join(d.message for d in result.diagnostics) or result.stderr.strip()
            raise UsageError(f"{path}: not a readable descriptor image: {reason}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    prune(cache)
    return out


def prune(cache: Path) -> None:
    """Keep the most recently used images of a cache folder; delete the rest."""
    images = sorted(cache.glob("*.binpb"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in images[_KEEP_IMAGES:]:
        old.unlink(missing_ok=True)
