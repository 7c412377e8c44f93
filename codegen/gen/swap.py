"""Swapping every selected target's new tree into generated/ as one step.

A run stages each target in `generated/.gen-<id>/new/<target>`. The commit
point is a single rename: the file `generated/.gen-<id>/COMMIT`, which lists
the targets, appears. Until then nothing under generated/ has been touched,
and a dead run's folder is simply deleted. After it, the swap is finished by
whoever holds the workspace lock next (this run, or the next `contracts gen`,
`--check` included): each old target moves aside to `old/<target>` and the new
one moves in. Each of those steps is a rename that can be redone, so a run
killed at any instant leaves a tree that the next run makes wholly old (not
committed) or wholly new (committed).

generated/ stays a plain directory tree, as git wants it; no symlinks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

from codegen import noop_stamp
from contracts_core import sources
from contracts_core.errors import GenerationError

# The fast path (noop_stamp) declines while one of these exists.
PREFIX = noop_stamp.STAGING_PREFIX
COMMIT = "COMMIT"
# Leftovers of the swap this module replaced (two renames per target).
_LEGACY_BACKUP = re.compile(r"\.[A-Za-z0-9_-]+\.old-\d+")
# Tests name a step here to have the process killed (SIGKILL) right there.
CRASH_ENV = "CONTRACTS_GEN_CRASH_AT"


def crash_point(step: str) -> None:
    """Die here, as a `kill -9` would, when a test asks for this step."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def stage(generated: Path) -> Path:
    """A new, empty staging folder; its `new/<target>` folders are the targets' trees."""
    generated.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=PREFIX, dir=generated))
    # While a run lasts, or after one was killed, the folder must not show up in
    # `git status` of a repository that holds generated/ (a `*` ignores itself too).
    (staging / ".gitignore").write_text("*\n", encoding="utf-8")
    (staging / "new").mkdir()
    return staging


def commit(staging: Path, targets: list[str]) -> None:
    """Decide the swap of `targets` in one rename; `finish` carries it out."""
    marker = staging / COMMIT
    partial = staging / f"{COMMIT}.partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(targets, handle)
        handle.flush()
        os.fsync(handle.fileno())
    crash_point("marker-written")
    os.rename(partial, marker)
    _fsync_dir(staging)
    crash_point("committed")


def finish(staging: Path) -> None:
    """Complete a committed swap; safe to repeat after a crash at any step."""
    generated = staging.parent
    try:
        targets = json.loads((staging / COMMIT).read_text(encoding="utf-8"))
    except ValueError:
        targets = None
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        # Written whole and renamed into place, so only a hand could have done this.
        raise GenerationError(
            f"generated/{staging.name}/{COMMIT} is not the list of targets a run wrote; "
            f"delete generated/{staging.name} and run contracts gen again"
        )
    for target in targets:
        new, live, old = staging / "new" / target, generated / target, staging / "old" / target
        if not new.is_dir():
            continue  # already moved in
        if live.is_dir() and not old.exists():
            _carry_droppings(live, new)
            crash_point(f"carried:{target}")
            old.parent.mkdir(exist_ok=True)
            os.rename(live, old)
            crash_point(f"aside:{target}")
        os.rename(new, live)
        crash_point(f"in:{target}")
    # The old trees go first: a crash after COMMIT's removal leaves nothing to redo.
    shutil.rmtree(staging / "old", ignore_errors=True)
    crash_point("old-removed")
    (staging / COMMIT).unlink()
    crash_point("uncommitted")
    shutil.rmtree(staging, ignore_errors=True)


def discard(staging: Path) -> None:
    """Drop a staging folder that was never committed."""
    shutil.rmtree(staging, ignore_errors=True)


def recover(generated: Path) -> None:
    """Finish or drop whatever dead runs left in generated/. Call with the lock held."""
    try:
        names = sorted(os.listdir(generated))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        path = generated / name
        if name.startswith(PREFIX) and path.is_dir():
            if (path / COMMIT).is_file():
                finish(path)
            else:
                discard(path)
        elif _LEGACY_BACKUP.fullmatch(name) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _carry_droppings(live: Path, new: Path) -> None:
    # What tools left beside the generated files (an editable install's
    # egg-info, pip's build/) is theirs, not ours: it stays where it was.
    for entry in os.scandir(live):
        if sources.is_dropping(entry.name, top=True) and not (new / entry.name).exists():
            os.rename(entry.path, new / entry.name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
