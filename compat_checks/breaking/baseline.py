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

from contracts_core import bufconfig, tools
from contracts_core.errors import CompileError, UsageError
from contracts_core.image import (
    Image,
    build_image,
    compile_workspace,
    content_digest,
    load_image_file,
    prune,
)
from contracts_core.workspace import Workspace

DEFAULT_BRANCHES = ("main", "origin/main")


def resolve(ws: Workspace, against: str | None) -> tuple[Image | None, str]:
    """The baseline image and a label for messages; None when the baseline has no contracts."""
    if against is not None and Path(against).is_file():
        return load_image_file(Path(against), ws.cache_dir / "against"), against
    if against is not None and Path(against).is_dir():
        return _directory_image(ws, Path(against)), against
    return _git_image(ws, against)


def _directory_image(ws: Workspace, directory: Path) -> Image:
    other = Workspace.discover(root=directory)
    if other.root == ws.root:
        return compile_workspace(other)
    digest, targets = content_digest(other)
    if not targets:
        raise UsageError(f"--against {directory}: no .proto files there to compare with")
    out = ws.cache_dir / "against" / f"dir-{digest}.binpb"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        _build_baseline(other.root, out, str(directory))
        prune(out.parent)
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
    top_dir = Path(top.stdout.decode().strip()).resolve()
    # Paths below are relative to the repository's top level: that is how
    # `<commit>:<path>` names them, and git archive runs there.
    prefix = ws.root.resolve().relative_to(top_dir).as_posix()
    prefix = "" if prefix == "." else prefix + "/"

    config_name = next(
        (n for n in bufconfig.CONFIG_NAMES if _exists(top_dir, commit, prefix + n)), None
    )
    if config_name is None:
        return None, label  # the baseline predates the contracts: nothing can break
    # Extract outside the workspace: a module at "." would otherwise see the
    # baseline's copies of its own files while another command compiles it.
    with tempfile.TemporaryDirectory(prefix="contracts-against-") as tmp:
        tree = Path(tmp)
        _extract(top_dir, commit, [prefix + config_name, prefix + "buf.lock"], tree)
        old_root = tree / prefix if prefix else tree
        old_config = bufconfig.load(old_root / config_name, old_root)
        module_paths = [
            prefix + m.path if m.path != "." else prefix.rstrip("/") or "."
            for m in old_config.modules
        ]
        key = _tree_key(top_dir, commit, [prefix + config_name, prefix + "buf.lock", *module_paths])
        out = _mkcache(ws) / f"git-{key}.binpb"
        targets = _targets(top_dir, commit, prefix, old_config.modules)
        if not targets:
            return None, label
        if not out.is_file():
            _extract(top_dir, commit, module_paths, tree)
            _build_baseline(old_root, out, label)
            prune(out.parent)
    return Image(path=out, targets=targets, digest=key), label


def _targets(
    top: Path, commit: str, prefix: str, modules: tuple[bufconfig.Module, ...]
) -> dict[str, str]:
    """Module-relative name -> workspace-relative path of the baseline's .proto files.

    Read from the commit's tree, so a cached baseline image needs no checkout.
    """
    listing = _git(top, "ls-tree", "-r", "-z", "--name-only", "--full-tree", commit)
    if listing.returncode != 0:
        raise UsageError(f"git ls-tree {commit[:12]} failed: {listing.stderr.decode().strip()}")
    targets: dict[str, str] = {}
    for entry in listing.stdout.decode().split("\0"):
        if not entry.endswith(".proto") or not entry.startswith(prefix):
            continue
        rel = entry[len(prefix) :]
        for module in modules:
            if module.contains(rel):
                targets.setdefault(module.to_module_relative(rel), rel)
    return targets


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
        if (
            _git(ws.root, "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}").returncode
            == 0
        ):
            base = _git(ws.root, "merge-base", "HEAD", branch)
            if base.returncode == 0:
                sha = base.stdout.decode().strip()
                return sha, f"merge-base with {branch} ({sha[:12]})"
    raise UsageError(
        "no default baseline: neither main nor origin/main shares history with HEAD; "
        "pass --against REF|IMAGE|DIR"
    )


def _object(commit: str, path: str) -> str:
    """`<commit>:<path>` for a path relative to the top level ("." is the root tree)."""
    return f"{commit}:" if path == "." else f"{commit}:{path}"


def _exists(top: Path, commit: str, path: str) -> bool:
    return _git(top, "cat-file", "-e", _object(commit, path)).returncode == 0


def _extract(top: Path, commit: str, paths: list[str], dest: Path) -> None:
    present = [p for p in paths if _exists(top, commit, p)]
    if not present:
        return
    archive = _git(top, "archive", "--format=tar", commit, "--", *present)
    if archive.returncode != 0:
        raise UsageError(f"git archive {commit[:12]} failed: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")


def _tree_key(top: Path, commit: str, paths: list[str]) -> str:
    h = hashlib.sha256(f"buf={tools.BUF.pinned}\0".encode())
    for path in paths:
        found = _git(top, "rev-parse", "--verify", "--quiet", _object(commit, path))
        h.update(f"{path}\0".encode() + found.stdout.strip() + b"\0")
    return h.hexdigest()


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
