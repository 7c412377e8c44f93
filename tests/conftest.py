"""Shared test helpers: throwaway workspaces, git histories and CLI runs.

Every test that compiles runs the real buf from .venv/bin (scripts/setup.sh).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_contracts(*args: str, cwd: Path) -> CliResult:
    """Run the installed `contracts` console script as a user would."""
    exe = Path(sys.executable).parent / "contracts"
    proc = subprocess.run(
        [str(exe), *args], cwd=cwd, capture_output=True, text=True, check=False, env=os.environ
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, body in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    )
    return proc.stdout.strip()


@pytest.fixture
def make_workspace(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """A workspace in tmp_path from {relative path: content}; buf.yaml defaults to one module."""

    def make(files: dict[str, str]) -> Path:
        files = {"buf.yaml": "version: v2\n", **files}
        write_tree(tmp_path, files)
        return tmp_path

    return make
