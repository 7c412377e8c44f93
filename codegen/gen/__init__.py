"""`contracts gen`: generated code from the compiled image, swapped in as one step.

Each selected target turns the image into a tree of files in one staging folder;
`tree.py` compares those trees with what is committed, and `swap.py` swaps every
changed one in with a single commit point, so a failing or killed run never
leaves generated/ half old, half new. `cache.py` skips a target whose inputs and
committed output are both unchanged since its last run. Callers hold
`lock.held` around a run.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from codegen import noop_stamp
from codegen.gen import cache, go_target, jsonschema_target, lock, python_target, swap, tree
from contracts_core.errors import GenerationError, UsageError
from contracts_core.image import Image, compile_workspace
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
    inputs: str | None = None,
) -> list[GenResult]:
    """Generate every selected target; with check, write nothing and report drift.

    `inputs` is noop_stamp's fingerprint of everything the output depends on,
    taken before anything read them (`noop_stamp.take_snapshot`); without it,
    no target is skipped as fresh or recorded. Call with `lock.held`.
    """
    selected = targets or list(TARGETS)
    unknown = [t for t in selected if t not in TARGETS]
    if unknown:
        raise UsageError(f"unknown --target {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    generated = ws.root / "generated"
    existed = generated.exists()
    try:
        # A run killed part-way: finish its committed swap or drop its staging.
        swap.recover(generated)
        results = []
        stale: list[str] = []
        for name in selected:
            out_dir = generated / name
            if inputs is not None and cache.is_fresh(ws, image, name, out_dir, inputs):
                results.append(GenResult(name, out_dir))
            else:
                stale.append(name)
        if stale:
            results += _build_and_swap(ws, image, stale, check, progress, inputs, existed)
    except OSError as exc:
        # A folder we cannot create or rename into: name it, keep what is there.
        where = Path(exc.filename) if exc.filename else generated
        if where.is_relative_to(ws.root):
            where = where.relative_to(ws.root)
        raise GenerationError(f"cannot write {where}: {exc.strerror or exc}") from None
    order = {name: i for i, name in enumerate(selected)}
    return sorted(results, key=lambda r: order[r.target])


def _build_and_swap(
    ws: Workspace,
    image: Image,
    stale: list[str],
    check: bool,
    progress: Callable[[str], None],
    inputs: str | None,
    existed: bool,
) -> list[GenResult]:
    generated = ws.root / "generated"
    staging = swap.stage(generated)
    results: list[GenResult] = []
    committed = False
    try:
        # Build every target first: a failure in any leaves every committed tree untouched.
        for name in stale:
            staged = staging / "new" / name
            progress(f"{name}: generating from {len(image.targets)} file(s)")
            started = time.perf_counter()
            TARGETS[name].build(ws, image, staged)
            _refuse_droppings(name, staged)
            progress(f"{name}: generated in {time.perf_counter() - started:.2f} s")
            results.append(
                GenResult(name, generated / name, tree.compare(staged, generated / name))
            )
        swap.crash_point("staged")
        changed = [r.target for r in results if r.diff.changed]
        if not check and changed:
            swap.commit(staging, changed)
            committed = True  # the new trees are decided: a failure from here on
            swap.finish(staging)  # leaves the swap for the next run to finish
        else:
            swap.discard(staging)
    except BaseException:
        if not committed:
            swap.discard(staging)
            if not existed:
                # A first run that failed leaves no generated/ behind at all.
                shutil.rmtree(generated, ignore_errors=True)
        raise
    if check and not existed:
        shutil.rmtree(generated, ignore_errors=True)
    if inputs is not None:
        for r in results:
            if not check or not r.diff.changed:
                cache.record(ws, image, r.target, r.out_dir, inputs)
    return results


def _refuse_droppings(target: str, staged: Path) -> None:
    found = tree.droppings(staged)
    if found:
        raise GenerationError(
            f"the {target} target would write generated/{target}/{found[0]}, a name tools use "
            "for their own files (build artefacts, bytecode), which no check could then see; "
            "rename the proto package or folder it comes from"
        )


def run(
    ws: Workspace,
    rediscover: Callable[[], Workspace],
    targets: list[str] | None = None,
    check: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    on_wait: Callable[[str], None] = lambda _: None,
) -> list[GenResult]:
    """One `contracts gen` (or `--check`) of a workspace, as the CLI and `contracts check`
    run it: under the workspace lock, the inputs fingerprinted before anything reads
    them (so an edit made meanwhile fails the stamp), and the no-op stamp recorded
    for every target left fresh."""
    with lock.held(ws.root, on_wait):
        snapshot = noop_stamp.take_snapshot(ws, rediscover)
        image = compile_workspace(ws)
        results = generate(
            ws,
            image,
            targets,
            check=check,
            progress=progress,
            inputs=snapshot.fingerprint.digest if snapshot is not None else None,
        )
        if snapshot is not None:
            # With check, a target with drift was not made fresh: never stamp it.
            stale = [r.target for r in results if check and r.diff.changed]
            fresh = [r.target for r in results if r.target not in stale]
            noop_stamp.record(snapshot, image.digest, fresh, stale, list(TARGETS))
    return results
