"""`contracts check` against `contracts lint`, `breaking` and `gen --check` run one by one.

    .venv/bin/python bench/check_vs_separate.py [--root DIR] [--against REF] [--runs N]

CI used to run the three gates as three commands; `contracts check` runs them
in one process from one compiled image, at the same time. Each row is the
median wall time of N runs. `separately` is one run of the three commands in a
row, timed whole, with each command's own median beside it. `cold` rows clear
the workspace's cache (compiled images, the baseline's image, gen's per-target
cache) before each run, as a fresh CI checkout has it; `cached` rows reuse it,
as a second run on an unchanged tree does.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
CONTRACTS = str(BIN / "contracts")


def timed(cmd: list[str], cwd: Path) -> float:
    """Wall seconds of one run; any exit code but 0 or 1 (findings) stops the bench."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed with {proc.returncode}: {proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO, help="workspace to measure")
    parser.add_argument("--against", default="HEAD", help="the breaking baseline (a git ref)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root: Path = args.root.resolve()
    common = ["--root", str(root)]
    steps = {
        "lint": [CONTRACTS, "lint", *common],
        "breaking": [CONTRACTS, "breaking", *common, "--against", args.against],
        "gen --check": [CONTRACTS, "gen", *common, "--check"],
    }
    check = [CONTRACTS, "check", *common, "--against", args.against]

    def clear() -> None:
        shutil.rmtree(root / ".contracts-cache", ignore_errors=True)

    print(f"workspace: {root}  against: {args.against}  runs: {args.runs}  (median wall time)")
    print(f"{'':8} {'command':34} {'seconds':>8} {'vs separately':>14}")
    for cache in ("cold", "cached"):
        one: list[float] = []
        apart: list[float] = []
        each: dict[str, list[float]] = {name: [] for name in steps}
        timed(check, root)  # warm the interpreter's files and, for `cached`, the cache
        for _ in range(args.runs):
            if cache == "cold":
                clear()
            one.append(timed(check, root))
            if cache == "cold":
                clear()
            total = 0.0
            for name, cmd in steps.items():
                seconds = timed(cmd, root)
                each[name].append(seconds)
                total += seconds
            apart.append(total)
        separately = statistics.median(apart)
        for name in steps:
            print(f"{cache:8} {'contracts ' + name:34} {statistics.median(each[name]):8.3f}")
        print(f"{cache:8} {'separately (the three in a row)':34} {separately:8.3f} {1:13.2f}x")
        check_s = statistics.median(one)
        print(f"{cache:8} {'contracts check':34} {check_s:8.3f} {check_s / separately:13.2f}x")


if __name__ == "__main__":
    main()
