"""Shared test helpers: throwaway workspaces, git histories and CLI runs.

Every test that compiles runs the real buf from .venv/bin (scripts/setup.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from compat_schemas import Compiler
from postgres_server import PostgresCluster, running_postgres

REPO = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


# No command of ours takes this long on the fixtures; a hung one fails its test
# in minutes instead of stalling CI, and its whole process group is killed.
CONTRACTS_TIMEOUT_S = 300


def run_contracts(*args: str, cwd: Path) -> CliResult:
    """Run the installed `contracts` console script as a user would."""
    return run_contracts_env(*args, cwd=cwd, env={})


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


def copy_repo_workspace(dest: Path) -> Path:
    """This repo's buf.yaml, pyproject.toml and contracts/ in a fresh workspace."""
    dest.mkdir(parents=True)
    for name in ("buf.yaml", "pyproject.toml"):
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / "contracts", dest / "contracts")
    return dest


def broken_mypy_plugin(directory: Path) -> Path:
    """A protoc-gen-mypy (and _grpc) that passes the version check, then fails."""
    plugin = directory / "protoc-gen-mypy"
    plugin.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "mypy-protobuf 5.1.0"; exit 0; fi\n'
        "echo 'plugin crashed halfway' >&2; exit 1\n"
    )
    plugin.chmod(0o755)
    (directory / "protoc-gen-mypy_grpc").symlink_to(plugin)
    return plugin


def run_contracts_env(*args: str, cwd: Path, env: dict[str, str]) -> CliResult:
    """run_contracts with extra environment variables."""
    exe = Path(sys.executable).parent / "contracts"
    try:
        proc = run_bounded(
            [str(exe), *args], cwd=cwd, timeout=CONTRACTS_TIMEOUT_S, env={**os.environ, **env}
        )
    except Overran as exc:
        raise AssertionError(str(exc)) from None
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


class Overran(Exception):
    """A bounded command ran past its time and was killed with its process group."""


def run_bounded(
    args: Sequence[str], *, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command in its own process group; past `timeout` seconds, SIGKILL the
    whole group (the command and everything it started, e.g. `go test`'s test
    binary and its Python servers) and raise Overran. A plain subprocess.run
    timeout kills only the direct child and then waits for pipes that the
    grandchildren still hold open."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=10)
        raise Overran(f"{' '.join(args)}: killed after {timeout} s\n{stdout}{stderr}") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def run_go(
    cwd: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The go command, bounded, with the module settings the generated code expects."""
    go = shutil.which("go")
    assert go is not None, "go is required (scripts/setup.sh checks for it)"
    full = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", **(env or {})}
    return run_bounded([go, *args], cwd=cwd, timeout=timeout, env=full)


def build_go_program(folder: Path, binary: Path) -> Path:
    """`go build` the program in `folder` to `binary`, after `go vet` passes on it."""
    built = run_go(folder, "build", "-o", str(binary), ".", timeout=300)
    assert built.returncode == 0, built.stderr
    vet = run_go(folder, "vet", ".", timeout=300)
    assert vet.returncode == 0, vet.stderr
    return binary


def go_client_fixture(dest: Path) -> Path:
    """The Go client fixture workspace (tests/fixtures/go_client) without its goldens."""
    shutil.copytree(
        REPO / "tests/fixtures/go_client", dest, ignore=shutil.ignore_patterns("expected")
    )
    return dest


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster for the session (tests/postgres_server.py)."""
    with running_postgres() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def compiler(tmp_path_factory: pytest.TempPathFactory) -> Compiler:
    """Compiles compatibility-test schemas with the real buf, each source once per run."""
    return Compiler(tmp_path_factory.mktemp("compat"))


# --- buf's own findings, for comparing ours with bare buf -----------------------------

BUF = Path(sys.executable).parent / "buf"
# (file, rule, line, column, message), as both sides spell a finding of buf's.
BufRow = tuple[str, str, int, int, str]


def buf_rows(result: CliResult) -> list[BufRow]:
    """The buf findings of a `contracts lint|breaking|check --format json` run, in order."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code in (0, 1), result
    return [
        (f["file"], f["rule"], f["line"], f["column"], f["message"])
        for f in json.loads(result.stdout)
        if f["source"] == "buf"
    ]


def bare_buf(*args: str, cwd: Path) -> list[BufRow]:
    """Bare `buf ARGS --error-format json` in cwd, sorted; a policy's finding carries
    the policy file in parentheses, as buf prints it in text."""
    proc = run_bounded([str(BUF), *args, "--error-format", "json"], cwd=cwd, timeout=120)
    assert proc.returncode in (0, 100), proc.stderr
    rows: list[BufRow] = []
    for line in proc.stdout.splitlines():
        item = json.loads(line)
        message = item["message"] + (f" ({item['policy']})" if item.get("policy") else "")
        rows.append(
            (item.get("path", ""), item["type"], item["start_line"], item["start_column"], message)
        )
    return sorted(rows)


@pytest.fixture
def start_service() -> Iterator[Callable[..., Any]]:
    """`start(*flags, env=...)` starts the runtime's fixture service; all are killed after."""
    # Imported here: runtime_process imports this module.
    from runtime_process import service_starter

    yield from service_starter()


def alive(pid: int) -> bool:
    """Whether a process still runs: a zombie (killed, not yet reaped by its parent)
    does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return not stat.read_text().split(") ")[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return False
