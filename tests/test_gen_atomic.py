"""`contracts gen` swaps all its targets in as one step, one run at a time.

A real `contracts gen` process is killed (SIGKILL) at every step of the swap
(through codegen/gen/swap.py's crash hook) and at moments spread over whole
runs; after the next run, each time, generated/ must be wholly the old tree or
wholly the new one, with nothing of the dead run left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import broken_mypy_plugin, run_contracts, run_contracts_env, write_tree

from codegen.gen import lock, swap
from contracts_core import sources

TARGETS = ("python", "go", "jsonschema")
PROTO = "proto/kill/v1/kill.proto"
OLD = """
syntax = "proto3";

package kill.v1;

option go_package = "example.com/kill/gen/go/kill/v1;killv1";

// Job is work.
message Job {
  // Id names it.
  string id = 1;
}

// Jobs runs jobs.
service Jobs {
  // Run runs one.
  rpc Run(Job) returns (Job);
}
"""
# A new field: every target's output changes.
NEW = OLD.replace(
    "  string id = 1;\n", "  string id = 1;\n  // Owner runs it.\n  string owner = 2;\n"
)
FILES = {
    "buf.yaml": "version: v2\nmodules:\n  - path: proto\n",
    "pyproject.toml": '[tool.contracts]\ngo_module = "example.com/kill/gen/go"\n',
    PROTO: OLD,
}
TIMEOUT = 120
Trees = tuple[Path, dict[str, str], dict[str, str]]


def _trees(root: Path) -> dict[str, str]:
    return {t: sources.tree_digest(root / "generated" / t) for t in TARGETS}


def _leftovers(root: Path) -> list[str]:
    generated = root / "generated"
    return sorted(n for n in os.listdir(generated) if n not in (*TARGETS, "README.md"))


@pytest.fixture(scope="module")
def trees(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, str], dict[str, str]]]:
    """A workspace generated from OLD (kept pristine), and OLD's and NEW's trees."""
    base = tmp_path_factory.mktemp("atomic")
    old = base / "old"
    write_tree(old, FILES)
    assert run_contracts("gen", cwd=old).code == 0
    new = base / "new"
    write_tree(new, {**FILES, PROTO: NEW})
    assert run_contracts("gen", cwd=new).code == 0
    old_trees, new_trees = _trees(old), _trees(new)
    assert all(old_trees[t] != new_trees[t] for t in TARGETS)
    yield old, old_trees, new_trees


def _fresh_copy(old: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(old, dest, symlinks=True)
    (dest / PROTO).write_text(NEW.lstrip("\n"))
    return dest


def _settle(root: Path, old_trees: dict[str, str], new_trees: dict[str, str]) -> str:
    """Run the next gen (--check: it finishes or drops what the dead run left);
    say which whole tree generated/ is, or fail on a mixed one."""
    check = run_contracts("gen", "--check", cwd=root)
    assert check.code in (0, 1), check.stderr
    now = _trees(root)
    assert _leftovers(root) == [], "the dead run left something behind"
    if now == old_trees:
        assert check.code == 1
        return "old"
    if now == new_trees:
        assert check.code == 0, check.stdout
        return "new"
    mixed = {
        t: "old" if now[t] == old_trees[t] else "new" if now[t] == new_trees[t] else "?"
        for t in TARGETS
    }
    raise AssertionError(f"generated/ is mixed after recovery: {mixed}")


STEPS = [
    "staged",
    "marker-written",
    "committed",
    *(f"{step}:{t}" for t in TARGETS for step in ("carried", "aside", "in")),
    "old-removed",
    "uncommitted",
]


def test_killed_at_every_step_of_the_swap(trees: Trees, tmp_path: Path) -> None:
    old, old_trees, new_trees = trees
    outcomes: dict[str, str] = {}
    for step in STEPS:
        root = _fresh_copy(old, tmp_path / "ws")
        # An editable install's metadata beside the python tree rides along.
        (root / "generated/python/x.egg-info").mkdir()
        killed = run_contracts_env("gen", cwd=root, env={swap.CRASH_ENV: step})
        assert killed.code == -signal.SIGKILL, (step, killed.code, killed.stderr)
        outcomes[step] = _settle(root, old_trees, new_trees)
        assert (root / "generated/python/x.egg-info").is_dir(), step
        # The run after recovery makes it new in any case.
        assert run_contracts("gen", cwd=root).code == 0
        assert _trees(root) == new_trees
    # Before the commit point the old tree stays; from it on, the new one wins.
    assert outcomes["staged"] == outcomes["marker-written"] == "old"
    assert {outcomes[s] for s in STEPS[2:]} == {"new"}
    print(f"\nkill points: {len(STEPS)}, runs killed: {len(STEPS)}, mixed trees: 0")


def test_killed_at_moments_spread_over_whole_runs(trees: Trees, tmp_path: Path) -> None:
    old, old_trees, new_trees = trees
    exe = Path(sys.executable).parent / "contracts"

    def start(root: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(exe), "gen"],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    root = _fresh_copy(old, tmp_path / "ws")
    began = time.monotonic()
    timed = start(root)
    assert timed.wait(timeout=TIMEOUT) == 0
    duration = time.monotonic() - began
    kills = 12
    outcomes = []
    for i in range(kills):
        root = _fresh_copy(old, tmp_path / "ws")
        proc = start(root)
        # Denser late in the run, where the swap is.
        time.sleep(duration * (0.2 + 0.9 * (i + 0.5) / kills))
        # The whole process group: its protoc and plugins die with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
        outcomes.append(_settle(root, old_trees, new_trees))
    print(f"\ntimed kills: {kills} over {duration:.2f} s runs: {outcomes}, mixed trees: 0")


def test_dead_runs_leftovers_are_cleared(trees: Trees, tmp_path: Path) -> None:
    old, old_trees, _ = trees
    root = tmp_path / "ws"
    shutil.copytree(old, root, symlinks=True)
    # A staging folder that never committed, and the old swap's backup folder.
    write_tree(root, {"generated/.gen-dead/new/python/x_pb2.py": "x\n"})
    write_tree(root, {"generated/.python.old-12345/y_pb2.py": "y\n"})
    check = run_contracts("gen", "--check", cwd=root)
    assert check.code == 0, check.stdout + check.stderr
    assert _leftovers(root) == []
    assert _trees(root) == old_trees


def test_failed_first_run_leaves_no_generated_folder(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_tree(root, FILES)
    broken = broken_mypy_plugin(tmp_path)
    result = run_contracts_env("gen", cwd=root, env={"CONTRACTS_PROTOC_GEN_MYPY": str(broken)})
    assert result.code == 2, result.stderr
    assert not (root / "generated").exists()
    # --check on a workspace never generated writes nothing either.
    check = run_contracts("gen", "--check", "--target", "jsonschema", cwd=root)
    assert check.code == 1 and "missing: generated/jsonschema/" in check.stdout
    assert not (root / "generated").exists()


SLOW_PLUGIN = """#!/bin/sh
if [ "$1" = "--version" ]; then exec {real} --version; fi
touch {started}
sleep 3
exec {real} "$@"
"""


def test_second_run_waits_for_the_first(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    extra = "proto/kill/v1/extra.proto"
    write_tree(
        root,
        {
            **FILES,
            extra: 'syntax = "proto3";\npackage kill.v1;\n'
            'option go_package = "example.com/kill/gen/go/kill/v1;killv1";\n'
            "// Extra is deleted while the first run works.\nmessage Extra {}\n",
        },
    )
    real = Path(sys.executable).parent / "protoc-gen-mypy"
    started = tmp_path / "started"
    slow = tmp_path / "bin/protoc-gen-mypy"
    slow.parent.mkdir()
    slow.write_text(SLOW_PLUGIN.format(real=real, started=started))
    slow.chmod(0o755)
    (slow.parent / "protoc-gen-mypy_grpc").symlink_to(real.with_name("protoc-gen-mypy_grpc"))
    exe = str(Path(sys.executable).parent / "contracts")
    first = subprocess.Popen(
        [exe, "gen", "--target", "python"],
        cwd=root,
        env={**os.environ, "CONTRACTS_PROTOC_GEN_MYPY": str(slow)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    second: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + TIMEOUT
        while not started.exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never reached its plugin"
            time.sleep(0.05)
        # The first run has read extra.proto; it goes now, and a second run starts.
        (root / extra).unlink()
        second = subprocess.Popen(
            [exe, "gen", "--target", "python"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out2, err2 = second.communicate(timeout=TIMEOUT)
        out1, err1 = first.communicate(timeout=TIMEOUT)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert f"contracts: {lock.WAITING}" in err2
    assert "wrote: generated/python/kill/v1/extra_pb2.py" in out1
    assert "removed: generated/python/kill/v1/extra_pb2.py" in out2
    assert not (root / "generated/python/kill/v1/extra_pb2.py").exists()
