"""Helpers of the scaffold tests: the fixture contract (every RPC kind) in a throwaway
workspace, and the scaffold's own checks (pytest, mypy --strict, ruff) run the way a
service team runs them, bounded, with the fixture's generated stubs on the path."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from conftest import REPO, CliResult, Overran, run_bounded, run_contracts

FIXTURE = REPO / "tests/fixtures/scaffold"
SERVICE = "acme.echo.v1.EchoService"
NAME = "echo"
FOLDER = f"services/{NAME}"
# The scaffold's own test run and type check, bounded.
CHECK_TIMEOUT_S = 300


def fixture_workspace(dest: Path) -> Path:
    shutil.copytree(FIXTURE / "workspace", dest)
    return dest


def scaffold(ws: Path, *extra: str) -> CliResult:
    return run_contracts("new", "service", NAME, "--service", SERVICE, *extra, cwd=ws)


def generate_python(ws: Path) -> None:
    result = run_contracts("gen", "--target", "python", cwd=ws)
    assert result.code == 0, result.stderr


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def run_check(ws: Path, *args: str, folder: str = FOLDER) -> str:
    """Run a tool of the venv in the scaffolded service; fail the test on a non-zero exit."""
    generated = str(ws / "generated/python")
    env = {
        **os.environ,
        "PYTHONPATH": generated,
        # The fixture's stubs are not installed; contracts_runtime is (scripts/setup.sh).
        "MYPYPATH": generated,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    exe = Path(sys.executable).parent
    command = [str(exe / args[0]), *args[1:]]
    try:
        proc = run_bounded(command, cwd=ws / folder, timeout=CHECK_TIMEOUT_S, env=env)
    except Overran as exc:
        raise AssertionError(str(exc)) from None
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(args)} failed in the scaffold:\n{output}"
    return output


def scaffold_checks(ws: Path, folder: str = FOLDER) -> None:
    """The scaffold's own tests pass, and it is mypy --strict and ruff clean."""
    out = run_check(ws, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", folder=folder)
    assert " passed" in out and "skipped" not in out and "failed" not in out, out
    run_check(ws, "mypy", "--cache-dir", os.devnull, folder=folder)
    run_check(ws, "ruff", "check", "--no-cache", ".", folder=folder)
    run_check(ws, "ruff", "format", "--no-cache", "--check", ".", folder=folder)
