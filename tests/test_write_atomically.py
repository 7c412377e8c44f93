"""contracts_core.sources.write_atomically: one rename, and the permissions a plain
write would leave (a scaffold copied into an image by a non-root user, a pyproject.toml
that `contracts init` appends to)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts_core.sources import write_atomically


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_a_new_file_gets_the_umask_mode_not_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub/new.txt"
    write_atomically(path, "hello\n")
    assert path.read_text() == "hello\n"
    assert mode(path) == 0o644


@pytest.mark.usefixtures("umask_022")
def test_a_rewritten_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "run.sh"
    path.write_text("old\n")
    path.chmod(0o750)
    write_atomically(path, "new\n")
    assert path.read_text() == "new\n"
    assert mode(path) == 0o750
    assert [p.name for p in tmp_path.iterdir()] == ["run.sh"]  # no temporary left
