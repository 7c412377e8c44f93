"""File walks and content digests, with the standard library alone.

The workspace's .proto discovery, the image cache key, the generated-tree
digest and the no-op stamp all need the same answers about the same files; the
no-op stamp must get them without importing yaml, protobuf or click. Keeping one
implementation here is what makes the stamp's answers equal the full path's.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

# Every cache of the toolchain lives under <workspace>/.contracts-cache.
CACHE_DIR_NAME = ".contracts-cache"
# Written into the cache folder when it is made, as pytest and mypy do, so the
# cache never shows in `git status` of a repository that did not ignore it.
_CACHE_GITIGNORE = "# Created by the contracts toolchain; this folder is a cache.\n*\n"
# The buf files that decide an image besides the sources.
IMAGE_CONFIG_FILES = ("buf.yaml", "buf.yml", "buf.lock", "buf.work.yaml")

# Written next to generated code by tools, never by us: not part of a tree.
# Anywhere: bytecode and type checkers' caches.
_IGNORED_PARTS = ("__pycache__", ".mypy_cache")
_IGNORED_SUFFIXES = (".egg-info", ".pyc")
# At a tree's top only: where pip and setuptools build an installed package
# (`pip install generated/python` leaves build/ there).
_IGNORED_TOP = ("build", "dist")


def is_dropping(name: str, top: bool = False) -> bool:
    """Whether a file or folder of this name is a tool's, not a generator's; top: it
    sits at the top of the tree."""
    return (
        name in _IGNORED_PARTS or name.endswith(_IGNORED_SUFFIXES) or (top and name in _IGNORED_TOP)
    )


def cache_dir(root: Path) -> Path:
    """The workspace's cache folder, created with its own .gitignore if missing."""
    folder = root / CACHE_DIR_NAME
    ignore = folder / ".gitignore"
    if not ignore.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(ignore, _CACHE_GITIGNORE)
    return folder


def is_under(path: str, prefix: str) -> bool:
    """Whether a workspace-relative posix path is prefix or inside it."""
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def module_contains(module: str, excludes: list[str] | tuple[str, ...], rel: str) -> bool:
    """Whether a workspace-relative path belongs to a buf module (path, excludes)."""
    if module != "." and not is_under(rel, module):
        return False
    return not any(is_under(rel, ex) for ex in excludes)


def proto_paths(root: Path, module: str, excludes: list[str] | tuple[str, ...]) -> list[str]:
    """Workspace-relative paths of a module's .proto files, sorted; hidden folders count,
    as buf compiles them too."""
    found: list[str] = []
    root_prefix = os.path.join(os.fspath(root), "")
    for dirpath, dirnames, filenames in os.walk(root / module):
        dirnames.sort()
        rel_dir = os.path.join(dirpath, "")[len(root_prefix) :]
        for filename in filenames:
            if filename.endswith(".proto"):
                rel = rel_dir + filename
                if module_contains(module, excludes, rel):
                    found.append(rel)
    found.sort()
    return found


def read_bytes(path: str | Path) -> bytes:
    # os-level reads: a quarter faster than open() on trees of thousands of small files.
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, size + 1)
        if len(data) <= size:
            return data
        chunks = [data]  # it grew while we read: take all of it
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def image_inputs_digest(root: Path, buf_pin: str, paths: list[str]) -> str:
    """The image cache key: buf's version, buf's config files, and each source's bytes."""
    h = hashlib.sha256()
    h.update(f"buf={buf_pin}\0".encode())
    for name in IMAGE_CONFIG_FILES:
        cfg = root / name
        if cfg.is_file():
            h.update(name.encode() + b"\0" + read_bytes(cfg) + b"\0")
    for rel in paths:
        data = read_bytes(root / rel)
        h.update(f"{rel}\0{len(data)}\0".encode() + data)
    return h.hexdigest()


def _walk(folder: str, prefix: str, skip_droppings: bool, out: list[tuple[str, str]]) -> None:
    # Same set as Path.rglob("*") + is_file(): hidden files count, symlinked
    # directories are not entered, symlinks to files are followed.
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except PermissionError:
        return
    for entry in entries:
        name = entry.name
        if skip_droppings and is_dropping(name, top=not prefix):
            continue
        if entry.is_dir() and not entry.is_symlink():
            _walk(entry.path, f"{prefix}{name}/", skip_droppings, out)
        elif entry.is_file():
            out.append((f"{prefix}{name}", entry.path))


def _files(root: Path, skip_droppings: bool = True) -> list[tuple[str, str]]:
    """(relative posix name, absolute path) of every file under root, sorted by name."""
    out: list[tuple[str, str]] = []
    if root.is_dir():
        _walk(os.fspath(root), "", skip_droppings, out)
    out.sort()
    return out


def tree_files(root: Path) -> dict[str, Path]:
    """Every file of a generated tree by relative name, tool droppings excluded."""
    return {rel: Path(path) for rel, path in _files(root)}


def _digest(files: list[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for rel, path in files:
        data = read_bytes(path)
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def tree_digest(root: Path) -> str:
    """One hash over a tree's file names and bytes (tool droppings excluded)."""
    return _digest(_files(root))


def sources_digest(folder: Path, skip_droppings: bool = True) -> str:
    """One hash over the files of a source folder (generator code, templates)."""
    return _digest(_files(folder, skip_droppings))


def _mode_for(path: Path) -> int:
    """The permission bits path keeps (existing) or gets (new, under the umask)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomically(path: Path, text: str) -> None:
    """Replace path's content in one rename, so readers see the old or the new text."""
    import tempfile  # slow to import; only writers pay for it

    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp makes the file 0600; a rewritten file keeps its mode, a new one gets
        # what open() would give it, so a Docker COPY or a teammate can still read it.
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
