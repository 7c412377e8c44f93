"""The baseline a breaking check compares with, compiled to an image.

`--against` is an image file, a directory, or a git ref (default: the merge base
with main). A git ref is materialised with `git archive` (only buf.yaml and the
module folders), compiled once and cached by the git tree ids, which cost
nothing to compute and change exactly when the baseline's contracts do.
"""

from __future__ import annotations

import hashlib
import io

import subprocess
import tarfile
import tempfile
from pathlib import Path

from codegen import bufconfig, tools
from codegen.errors import CompileError, UsageError
from codegen.image import Image, build_image, compile_workspace, content_digest, load_image_file
from codegen.workspace import Workspace

DEFAULT_BRANCHES = ("main", "origin/main")


def resolve(ws: Workspace, against: str | None) -> tuple[Image | None, str]:
    """The baseline image and a label for messages; None when the baseline has no contracts."""
    if against is not None and Path(against).is_file():
        return load_image_file(Path(against)), against
    if against is not None and Path(against).is_dir():
        return _directory_image(ws, Path(against)), against
    return _git_image(ws, against)


def _directory_image(ws: Workspace, directory: Path) -> Image:
    other = Workspace.discover(root=directory)
    if other.root == ws.root:
        return compile_workspace(other)
    digest, targets = content_digest(other)
    out = ws.cache_dir / "against" / f"dir-{digest}.binpb"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        _build_baseline(other.root, out, str(directory))
    return Image(path=out, targets=targets, digest=digest)


def _git(ws_root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(ws_root), *args], capture_output=True, check=False)


def _git_image(ws: Workspace, ref: str | None) -> tuple[Image | None, str]:
    top = _git(ws.root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        what = f"--against {ref}" if ref else "the default baseline (merge base with main)"
        raise UsageError(
            f"{what}: {ws.root} is not inside a git repository; pass --against with an image "
            "file or a directory instead"
        )
    commit, label = _commit(ws, ref)
    prefix = ws.root.resolve().relative_to(Path(top.stdout.decode().strip()).resolve()).as_posix()
    prefix = "" if prefix == "." else prefix + "/"

    config_name = next(
        (n for n in bufconfig.CONFIG_NAMES if _exists(ws, commit, prefix + n)), None
    )
    if config_name is None:
        return None, label  # the baseline predates the contracts: nothing can break
    with tempfile.TemporaryDirectory(prefix="against-", dir=_mkcache(ws)) as tmp:
        tree = Path(tmp)
        _extract(ws, commit, [prefix + config_name, prefix + "buf.lock"], tree)
        old_root = tree / prefix if prefix else tree
        old_config = bufconfig.load(old_root / config_name, old_root)
        module_paths = [prefix + m.path if m.path != "." else prefix.rstrip("/") or "." for m in old_config.modules]
        key = _tree_key(ws, commit, [prefix + config_name, prefix + "buf.lock", *module_paths])
        out = ws.cache_dir / "against" / f"git-{key}.binpb"
        if not out.is_file():
            _extract(ws, commit, module_paths, tree)
            old_ws = Workspace.discover(root=old_root)
            if not old_ws.proto_files():
                return None, label
            _build_baseline(old_root, out, label)
        targets = {}
        for module in old_config.modules:
            base = old_root / module.path
            for proto in sorted(base.rglob("*.proto")) if base.is_dir() else ():
                rel = proto.relative_to(old_root).as_posix()
                if module.contains(rel):
                    targets[module.to_module_relative(rel)] = rel
    return Image(path=out, targets=targets, digest=key), label


def _commit(ws: Workspace, ref: str | None) -> tuple[str, str]:
    if ref is not None:
        found = _git(ws.root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if found.returncode != 0:
            raise UsageError(
                f"--against {ref}: not an image file, a directory, or a git ref that exists "
                "in this repository"
            )
        return found.stdout.decode().strip(), ref
    for branch in DEFAULT_BRANCHES:
        if _git(ws.root, "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}").returncode == 0:
            base = _git(ws.root, "merge-base", "HEAD", branch)
            if base.returncode == 0:
                sha = base.stdout.decode().strip()
                return sha, f"merge-base with {branch} ({sha[:12]})"
    raise UsageError(
        "no default baseline: neither main nor origin/main shares history with HEAD; "
        "pass --against REF|IMAGE|DIR"
    )


def _exists(ws: Workspace, commit: str, path: str) -> bool:
    return _git(ws.root, "cat-file", "-e", f"{commit}:{path}").returncode == 0


def _extract(ws: Workspace, commit: str, paths: list[str], dest: Path) -> None:
    present = [p for p in paths if p == "." or _exists(ws, commit, p)]
    if not present:
        return
    archive = _git(ws.root, "archive", "--format=tar", commit, "--", *present)
    if archive.returncode != 0:
        raise UsageError(f"git archive {commit[:12]} failed: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")


def _tree_key(ws: Workspace, commit: str, paths: list[str]) -> str:
    h = hashlib.sha256(f"buf={tools.BUF.pinned}\0".encode())
    for path in paths:
        found = _git(ws.root, "rev-parse", "--verify", "--quiet", f"{commit}:{path}")
        h.update(f"{path}\0".encode() + found.stdout.strip() + b"\0")
    return h.hexdigest()


def _build_baseline(source: Path, out: Path, label: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        build_image(source, out)
    except CompileError as exc:
        raise CompileError(exc.diagnostics, header=f"the baseline {label} does not compile") from None


def _mkcache(ws: Workspace) -> Path:
    path = ws.cache_dir / "against"
    path.mkdir(parents=True, exist_ok=True)
    return path



