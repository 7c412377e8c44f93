"""One `contracts gen` at a time per workspace.

Two runs at once could each read the sources at a different moment and swap
in last whichever finished last, leaving output for a proto deleted meanwhile.
The lock is an flock on a file in the workspace's cache, so it dies with its
process (a killed run never leaves the workspace locked). The no-op fast path
takes it shared, for the instant it reads, and never waits for it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from codegen import noop_stamp

WAITING = "waiting for another contracts gen in this workspace to finish"


@contextmanager
def held(root: Path, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold the workspace's gen lock; call on_wait(WAITING) first if another run has it."""
    path = noop_stamp.lock_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(WAITING)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
