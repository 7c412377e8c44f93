"""The baseline a breaking check compares with, compiled to an image.

`--against` is an image file, a directory, or a git ref (default: the merge base
with the remote's default branch, else main, else master). A git ref is read
straight from git's object store (`git ls-tree`, `git cat-file --batch`), so
`.gitattributes` export rules cannot hide or alter its files, compiled once and
cached by the blob ids of the files read, which cost nothing to compute and
change exactly when the baseline's contracts do.

A directory goes through the same reader. A baseline with no buf.yaml (a tag
from before the repository adopted buf, a buf.yaml not yet committed, an
unpacked release) is read with this workspace's module layout: its files then
keep the names they have today, and only real changes show up.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import subprocess
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from contracts_core import bufconfig, tools
from contracts_core.errors import CompileError, ToolError, UsageError
from contracts_core.image import (
    Image,
    build_image,
    compile_workspace,
    load_image_file,
    prune,
)
from contracts_core.workspace import Workspace

# Tried in this order for the default baseline, after the remote's own HEAD.
DEFAULT_BRANCHES = ("main", "master", "origin/main", "origin/master")
_REMOTE_HEAD = "refs/remotes/origin/HEAD"
_BLOB_MODES = ("100644", "100755")
_SYMLINK_MODE = "120000"
# Never part of a directory baseline: git's store and our caches.
_SKIPPED_DIRS = (".git", ".contracts-cache")
# How long one git command may take before we give up on it.
_GIT_TIMEOUT_S = 300


@dataclass(frozen=True)
class Baseline:
    """The baseline image (None: it has no contracts), its label, and what to tell the user."""

    image: Image | None
    label: str
    notes: tuple[str, ...] = field(default=())


def resolve(ws: Workspace, against: str | None) -> Baseline:
    """The baseline `--against` names (or the default one), compiled."""
    if against is not None and Path(against).is_file():
        return Baseline(load_image_file(Path(against), ws.cache_dir / "against"), against)
    if against is not None and Path(against).is_dir():
        return _directory_image(ws, Path(against))
    return _git_baseline(ws, against)


def _directory_image(ws: Workspace, directory: Path) -> Baseline:
    label = str(directory)
    if directory.resolve() == ws.root.resolve():
        return Baseline(compile_workspace(ws), label)
    base = _read(ws, _DirTree.of(directory.resolve()), label, [])
    if base.image is None:
        raise UsageError(f"--against {directory}: no .proto files there to compare with")
    return base


def _git(
    ws_root: Path, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(ws_root), *args],
            input=stdin,
            capture_output=True,
            check=False,
            timeout=_GIT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise ToolError(f"git {args[0]} took over {_GIT_TIMEOUT_S} s; gave up") from None
    except OSError as exc:
        raise ToolError(f"cannot run git: {exc.strerror}; install git") from None


class _Tree(Protocol):
    """The files of a baseline, by workspace-relative path."""

    def paths(self) -> Collection[str]: ...

    def key(self, path: str) -> str:
        """An id that changes exactly when the file's bytes do."""
        ...

    def write(self, paths: list[str], dest: Path) -> None: ...


@dataclass(frozen=True)
class _GitTree:
    """A commit's files under the workspace, read from git's object store."""

    top: Path
    blobs: dict[str, str]  # workspace-relative path -> blob id

    def paths(self) -> Collection[str]:
        return self.blobs.keys()

    def key(self, path: str) -> str:
        return self.blobs[path]

    def write(self, paths: list[str], dest: Path) -> None:
        contents = _cat(self.top, [self.blobs[p] for p in paths])
        for rel in paths:
            _put(dest / rel, contents[self.blobs[rel]])


@dataclass(frozen=True)
class _DirTree:
    """A directory's .proto and buf files; the directory is only read."""

    root: Path
    files: tuple[str, ...]

    @classmethod
    def of(cls, root: Path) -> _DirTree:
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in _SKIPPED_DIRS]
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            for name in filenames:
                if name.endswith(".proto") or name in bufconfig.ROOT_FILES:
                    found.append(name if rel_dir == "." else f"{rel_dir}/{name}")
        return cls(root, tuple(sorted(found)))

    def paths(self) -> Collection[str]:
        return self.files

    def key(self, path: str) -> str:
        return hashlib.sha256((self.root / path).read_bytes()).hexdigest()

    def write(self, paths: list[str], dest: Path) -> None:
        for rel in paths:
            _put(dest / rel, (self.root / rel).read_bytes())


def _put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _git_baseline(ws: Workspace, ref: str | None) -> Baseline:
    top = _git(ws.root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        what = f"--against {ref}" if ref else "the default baseline (merge base with main)"
        raise UsageError(
            f"{what}: {ws.root} is not inside a git repository; pass --against with an image "
            "file or a directory instead"
        )
    commit, label, notes = _commit(ws, ref)
    top_dir = Path(top.stdout.decode().strip()).resolve()
    # Paths are relative to the repository's top level in git, and relative to
    # the workspace root (`prefix` stripped) everywhere else.
    prefix = ws.root.resolve().relative_to(top_dir).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    return _read(ws, _GitTree(top_dir, _tree(top_dir, commit, prefix)), label, notes)


def _read(ws: Workspace, tree: _Tree, label: str, notes: list[str]) -> Baseline:
    """Compile a baseline's files with its own buf config, or this workspace's if it has none."""
    files = set(tree.paths())
    # Extract outside the workspace: a module at "." would otherwise see the
    # baseline's copies of its own files while another command compiles it.
    with tempfile.TemporaryDirectory(prefix="contracts-against-") as tmp:
        old_root = Path(tmp)
        own = [n for n in bufconfig.ROOT_FILES if n in files]
        if any(n in own for n in bufconfig.CONFIG_NAMES + bufconfig.WORK_NAMES):
            tree.write(own, old_root)
            config = bufconfig.load_dir(old_root)
            # A buf.work.yaml's directories have their own buf.yaml and buf.lock.
            extra = [
                f"{m.path}/{n}"
                for m in (config.modules if config.is_work else ())
                for n in bufconfig.MODULE_FILES
                if f"{m.path}/{n}" in files
            ]
            if extra:
                tree.write(extra, old_root)
                config = bufconfig.load_dir(old_root)
            key_parts = [f"{p}\0{tree.key(p)}" for p in (*own, *extra)]
        else:
            # As buf reads a tree without buf.yaml, but with today's module layout,
            # so that files keep today's names instead of all looking deleted.
            config = ws.buf
            copied = [p for p in config.files() if (ws.root / p).is_file()]
            for rel in copied:
                _put(old_root / rel, (ws.root / rel).read_bytes())
            key_parts = [f"workspace:{p}\0{_sha(ws.root / p)}" for p in copied]
            notes.append(
                f"baseline {label} has no buf.yaml; read with this workspace's modules "
                f"({', '.join(m.path + '/' if m.path != '.' else '.' for m in config.modules)})"
            )
        targets = {
            module.to_module_relative(rel): rel
            for rel in sorted(files)
            if rel.endswith(".proto")
            for module in config.modules
            if module.contains(rel)
        }
        if not targets:
            notes.append(f"baseline {label} has no .proto files in its modules: nothing to compare")
            return Baseline(None, label, tuple(notes))
        sources = sorted(set(targets.values()))
        key_parts += [f"{rel}\0{tree.key(rel)}" for rel in sources]
        key = hashlib.sha256(
            "\0\0".join([f"buf={tools.BUF.pinned}", *key_parts]).encode()
        ).hexdigest()
        out = _mkcache(ws) / f"base-{key}.binpb"
        if not out.is_file():
            tree.write(sources, old_root)
            _build_baseline(old_root, out, label)
            prune(out.parent)
    return Baseline(Image(path=out, targets=targets, digest=key), label, tuple(notes))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(top: Path, commit: str, prefix: str) -> dict[str, str]:
    """Workspace-relative path -> blob id of every file under the workspace in a commit.

    Symbolic links are followed to the file they name inside the commit, as a
    checkout would; links leading elsewhere are left out.
    """
    args = ["ls-tree", "-r", "-z", "--full-tree", commit]
    listing = _git(top, *args, *(["--", prefix] if prefix else []))
    if listing.returncode != 0:
        raise UsageError(f"git ls-tree {commit[:12]} failed: {listing.stderr.decode().strip()}")
    files: dict[str, str] = {}
    links: dict[str, str] = {}
    for entry in listing.stdout.decode().split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind != "blob" or not path.startswith(prefix):
            continue
        rel = path[len(prefix) :]
        if mode in _BLOB_MODES:
            files[rel] = sha
        elif mode == _SYMLINK_MODE:
            links[rel] = sha
    if links:
        contents = _cat(top, list(links.values()))
        for rel, sha in links.items():
            target = posixpath.normpath(
                posixpath.join(posixpath.dirname(rel), contents[sha].decode())
            )
            if target in files:
                files[rel] = files[target]
    return files


def _cat(top: Path, shas: list[str]) -> dict[str, bytes]:
    """The contents of blobs, read in one `git cat-file --batch`."""
    unique = list(dict.fromkeys(shas))
    proc = _git(top, "cat-file", "--batch", stdin="".join(f"{s}\n" for s in unique).encode())
    if proc.returncode != 0:
        raise UsageError(f"git cat-file failed: {proc.stderr.decode().strip()}")
    out: dict[str, bytes] = {}
    data = proc.stdout
    pos = 0
    for sha in unique:
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        if len(header) != 3 or header[1] != b"blob":
            raise UsageError(f"git cat-file: object {sha} is not a readable blob")
        size = int(header[2])
        out[sha] = data[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1  # the contents are followed by a newline
    return out


def _commit(ws: Workspace, ref: str | None) -> tuple[str, str, list[str]]:
    """The baseline commit, its label, and notes for the user."""
    if ref is not None:
        found = _git(ws.root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if found.returncode != 0:
            raise UsageError(
                f"--against {ref}: not an image file, a directory, or a git ref that exists "
                "in this repository"
            )
        return found.stdout.decode().strip(), ref, []
    candidates = list(DEFAULT_BRANCHES)
    remote_head = _git(ws.root, "symbolic-ref", "--quiet", "--short", _REMOTE_HEAD)
    if remote_head.returncode == 0:
        candidates.insert(0, remote_head.stdout.decode().strip())
    for branch in dict.fromkeys(candidates):
        if (
            _git(ws.root, "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}").returncode
            == 0
        ):
            base = _git(ws.root, "merge-base", "HEAD", branch)
            if base.returncode == 0:
                sha = base.stdout.decode().strip()
                label = f"merge base with {branch} ({sha[:12]})"
                return sha, label, [f"baseline: {label}"]
    raise UsageError(
        f"no default baseline: none of {', '.join(dict.fromkeys(candidates))} shares history "
        "with HEAD; pass --against REF|IMAGE|DIR"
    )


def _build_baseline(source: Path, out: Path, label: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        build_image(source, out)
    except CompileError as exc:
        raise CompileError(
            exc.diagnostics, header=f"the baseline {label} does not compile"
        ) from None


def _mkcache(ws: Workspace) -> Path:
    path = ws.cache_dir / "against"
    path.mkdir(parents=True, exist_ok=True)
    return path
