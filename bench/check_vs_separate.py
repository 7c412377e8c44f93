"""`contracts check` against `contracts lint`, `breaking` and `gen --check` run one by one.

    .venv/bin/python bench/check_vs_separate.py [--root DIR] [--against REF] [--runs N] [--registry]

CI used to run the three gates as three commands; `contracts check` runs them
in one process from one compiled image, at the same time. Each row is the
median wall time of N runs. `separately` is one run of the three commands in a
row, timed whole, with each command's own median beside it. `cold` rows clear
the workspace's cache (compiled images, the baseline's image, gen's per-target
cache) before each run, as a fresh CI checkout has it; `cached` rows reuse it,
as a second run on an unchanged tree does. With `--registry`, a registry
(`contracts registry serve` on a temporary store, the workspace pushed to it)
adds `registry check --url` to the separate commands and `--registry-url` to
`contracts check`.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def registry(root: Path) -> Iterator[str]:
    """A registry process on a free loopback port holding the workspace's contracts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [CONTRACTS, "registry", "serve", "--port", str(port), "--store", f"{tmp}/r.db"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("the registry did not start") from None
                    time.sleep(0.1)
            timed([CONTRACTS, "registry", "push", "--root", str(root), "--url", url], root)
            yield url
        finally:
            proc.kill()
            proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO, help="workspace to measure")
    parser.add_argument("--against", default="HEAD", help="the breaking baseline (a git ref)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--registry", action="store_true", help="include the registry check (a local registry)"
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(registry(args.root.resolve())) if args.registry else None
        compare(args.root.resolve(), args.against, args.runs, url)


def compare(root: Path, against: str, runs: int, url: str | None) -> None:
    common = ["--root", str(root)]
    steps = {
        "lint": [CONTRACTS, "lint", *common],
        "breaking": [CONTRACTS, "breaking", *common, "--against", against],
        "gen --check": [CONTRACTS, "gen", *common, "--check"],
    }
    check = [CONTRACTS, "check", *common, "--against", against]
    if url:
        steps["registry check"] = [CONTRACTS, "registry", "check", *common, "--url", url]
        check += ["--registry-url", url]

    def clear() -> None:
        shutil.rmtree(root / ".contracts-cache", ignore_errors=True)

    print(f"workspace: {root}  against: {against}  runs: {runs}  (median wall time)")
    if url:
        print(f"registry: {url}")
    print(f"{'':8} {'command':34} {'seconds':>8} {'vs separately':>14}")
    for cache in ("cold", "cached"):
        one: list[float] = []
        apart: list[float] = []
        each: dict[str, list[float]] = {name: [] for name in steps}
        timed(check, root)  # warm the interpreter's files and, for `cached`, the cache
        for _ in range(runs):
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
        print(
            f"{cache:8} {f'separately (the {len(steps)} in a row)':34} {separately:8.3f} {1:13.2f}x"
        )
        check_s = statistics.median(one)
        print(f"{cache:8} {'contracts check':34} {check_s:8.3f} {check_s / separately:13.2f}x")


if __name__ == "__main__":
    main()
