"""contracts lint / breaking against bare buf lint / breaking, side by side.

    .venv/bin/python bench/lint_vs_buf.py [--root DIR] [--runs N]

Each row is the median wall time of N runs (and the peak memory of the
slowest process tree), with its ratio to the buf command it replaces. The
`cold` rows clear the image cache first; `cached` rows reuse it, as a second
run on an unchanged tree does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], cwd: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in MiB, and exit code of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1, 100):
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd)} failed with {code}: {err[-2000:]}")
    return elapsed, usage.ru_maxrss // 1024, code


def measure(
    label: str, cmd: list[str], cwd: Path, runs: int, before: Callable[[], None] | None = None
) -> tuple[str, float, int]:
    times, peak = [], 0
    for _ in range(runs):
        if before:
            before()
        seconds, rss, _ = timed(cmd, cwd)
        times.append(seconds)
        peak = max(peak, rss)
    return label, statistics.median(times), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO, help="workspace to measure")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root: Path = args.root.resolve()
    buf, contracts = str(BIN / "buf"), str(BIN / "contracts")
    root_args = ["--root", str(root)]

    def clear_cache() -> None:
        shutil.rmtree(root / ".contracts-cache", ignore_errors=True)

    rows = []
    base = measure("buf lint", [buf, "lint"], root, args.runs)
    rows.append((base, base))
    rows.append(
        (
            measure(
                "contracts lint (cold)",
                [contracts, "lint", *root_args],
                root,
                args.runs,
                clear_cache,
            ),
            base,
        )
    )
    rows.append(
        (measure("contracts lint (cached)", [contracts, "lint", *root_args], root, args.runs), base)
    )
    bbase = measure(
        "buf breaking --against .", [buf, "breaking", ".", "--against", "."], root, args.runs
    )
    rows.append((bbase, bbase))
    rows.append(
        (
            measure(
                "contracts breaking --against . (cached)",
                [contracts, "breaking", *root_args, "--against", str(root)],
                root,
                args.runs,
            ),
            bbase,
        )
    )
    print(f"workspace: {root}  runs: {args.runs}  (median wall time, peak RSS)")
    print(f"{'command':42} {'seconds':>9} {'peak MiB':>9} {'vs buf':>8}")
    for (label, seconds, rss), (_, ref, _) in rows:
        print(f"{label:42} {seconds:9.3f} {rss:9d} {seconds / ref:7.2f}x")


if __name__ == "__main__":
    main()
