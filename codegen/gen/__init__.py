"""`contracts gen`: generated code from the compiled image, written atomically.

Each target turns the image into a tree of files in a temporary directory;
`tree.py` compares that tree with what is committed or swaps it in whole, so a
failing target never leaves a half-written folder. `cache.py` skips a target
whose inputs and committed output are both unchanged since its last run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from codegen.gen import cache, go_target, jsonschema_target, python_target, tree
from contracts_core.errors import GenerationError, UsageError
from contracts_core.image import Image
from contracts_core.workspace import Workspace

TARGETS = {"python": python_target, "go": go_target, "jsonschema": jsonschema_target}


@dataclass
class GenResult:
    target: str
    out_dir: Path
    diff: tree.TreeDiff = field(default_factory=tree.TreeDiff)


def generate(
    ws: Workspace,
    image: Image,
    targets: list[str] | None = None,
    check: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> list[GenResult]:
    """Generate every selected target; with check, write nothing and report drift."""
    selected = targets or list(TARGETS)
    unknown = [t for t in selected if t not in TARGETS]
    if unknown:
        raise UsageError(f"unknown --target {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    results = []
    stale: list[str] = []
    for name in selected:
        out_dir = ws.root / "generated" / name
        if cache.is_fresh(ws, image, name, out_dir):
            results.append(GenResult(name, out_dir))
        else:
            stale.append(name)
    if not stale:
        return results
    try:
        return _build_and_swap(ws, image, selected, stale, results, check, progress)
    except OSError as exc:
        # A folder we cannot create or rename into: name it, keep what is there.
        where = Path(exc.filename) if exc.filename else ws.root / "generated"
        if where.is_relative_to(ws.root):
            where = where.relative_to(ws.root)
        raise GenerationError(f"cannot write {where}: {exc.strerror or exc}") from None


def _build_and_swap(
    ws: Workspace,
    image: Image,
    selected: list[str],
    stale: list[str],
    results: list[GenResult],
    check: bool,
    progress: Callable[[str], None],
) -> list[GenResult]:
    staging_parent = ws.root / "generated"
    staging_parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gen-", dir=staging_parent) as tmp:
        built: list[tuple[str, Path, Path]] = []
        # Build every target first: a failure in any leaves every committed tree untouched.
        for name in stale:
            staged = Path(tmp) / name
            progress(f"{name}: generating from {len(image.targets)} file(s)")
            started = time.perf_counter()
            TARGETS[name].build(ws, image, staged)
            progress(f"{name}: generated in {time.perf_counter() - started:.2f} s")
            built.append((name, staged, ws.root / "generated" / name))
        for name, staged, out_dir in built:
            diff = tree.compare(staged, out_dir)
            if not check and diff.changed:
                tree.swap_in(staged, out_dir)
            if not check or not diff.changed:
                cache.record(ws, image, name, out_dir)
            results.append(GenResult(name, out_dir, diff))
    order = {name: i for i, name in enumerate(selected)}
    return sorted(results, key=lambda r: order[r.target])
