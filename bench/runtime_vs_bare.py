"""The serving runtime's cost: a contracts_runtime service against a bare grpc.aio server,
both answering the same trivial unary handler (bench/trivial_service.py), driven by a Go
load generator built on the generated Go client (bench/loadgen), at several concurrencies;
then the runtime with --workers N against one process. Prints QPS, p50 and p99 side by
side with the runtime/bare ratio.

    .venv/bin/python bench/runtime_vs_bare.py [--concurrency 1,8,32] [--duration 5]
        [--rounds 1] [--workers 2] [--log-level info] [--noop-interceptor]

About a minute with the defaults. The load generator shares the machine's cores with the
server, as on a 2-core CI runner; read the numbers as this machine's, not grpcio's limit.
On a machine others load too, `--rounds 3` alternates the two servers three times per
concurrency and reports each one's median run and the spread of the paired ratios, so a
load spike during one run does not decide the ratio. Each run also reports the server's
CPU time per call (its process group's user + system time over the measured seconds,
from /proc, divided by the calls): what the runtime adds to a call, much less disturbed
by other processes than the throughput is.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
from fleet.inference.v1 import inference_service_pb2 as inference
from fleet.inference.v1 import inference_service_pb2_grpc as inference_grpc

BENCH = Path(__file__).resolve().parent
LOADGEN = BENCH / "loadgen"
SERVER = BENCH / "trivial_service.py"
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15


def build_loadgen(dest: Path) -> Path:
    go = shutil.which("go")
    if go is None:
        raise SystemExit("go is required to build bench/loadgen")
    binary = dest / "loadgen"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=LOADGEN, env=env, check=True, timeout=300
    )
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_cpu_seconds(pgid: int) -> float | None:
    """User + system CPU seconds of the live processes of a process group (Linux /proc);
    None where there is no /proc."""
    proc = Path("/proc")
    if not (proc / "self/stat").is_file():
        return None
    ticks = 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # Fields after the command name, which may hold spaces: state is field 3.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[2]) == pgid:  # pgrp
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def serving(mode: str, *flags: str) -> Iterator[tuple[str, int]]:
    """One server process (its own process group, killed whole after); its address and
    process group."""
    port = free_port()
    args = [sys.executable, str(SERVER), mode, "--port", str(port)]
    if mode == "runtime":
        args += ["--host", "127.0.0.1", "--metrics-port", "0", *flags]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    address = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(address) as channel:
            inference_grpc.InferenceServiceStub(channel).GetModelReady(
                inference.GetModelReadyRequest(model_name="warm"),
                timeout=START_TIMEOUT_S,
                wait_for_ready=True,
            )
        yield address, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_S)


WARMUP_S = 1.0


def load(
    loadgen: Path, server: tuple[str, int], concurrency: int, duration: float, conns: int = 1
) -> dict[str, Any]:
    """One load run: the load generator's numbers, and `cpu_us`, the server's CPU time per
    measured call (None without /proc)."""
    address, pgid = server
    gen = subprocess.Popen(
        [
            str(loadgen),
            "-addr",
            address,
            "-c",
            str(concurrency),
            "-conns",
            str(conns),
            "-warmup",
            f"{WARMUP_S}s",
            "-d",
            f"{duration}s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The generator measures from the end of its warm-up to its exit; so does this.
        time.sleep(WARMUP_S)
        cpu_before = group_cpu_seconds(pgid)
        out, err = gen.communicate(timeout=duration + 60)
        cpu_after = group_cpu_seconds(pgid)
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.wait()
    if gen.returncode != 0:
        raise SystemExit(f"loadgen failed ({gen.returncode}): {err}")
    result: dict[str, Any] = json.loads(out)
    if result["errors"]:
        raise SystemExit(f"{result['errors']} calls failed against {address}")
    result["cpu_us"] = (
        (cpu_after - cpu_before) / result["calls"] * 1e6
        if cpu_before is not None and cpu_after is not None and result["calls"]
        else None
    )
    return result


def _cpu(run: dict[str, Any]) -> str:
    return f"{run['cpu_us']:>8.0f}" if run["cpu_us"] is not None else f"{'-':>8}"


def row(label: str, base: dict[str, Any], other: dict[str, Any], spread: str = "") -> str:
    cpu_ratio = (
        f"{other['cpu_us'] / base['cpu_us']:>7.2f}x"
        if base["cpu_us"] and other["cpu_us"] is not None
        else f"{'-':>8}"
    )
    return (
        f"{label:<18}{base['qps']:>9.0f}{base['p50_ms']:>8.2f}{base['p99_ms']:>8.2f}{_cpu(base)}"
        f"  |{other['qps']:>9.0f}{other['p50_ms']:>8.2f}{other['p99_ms']:>8.2f}{_cpu(other)}"
        f"  |{other['qps'] / base['qps']:>7.2f}x{cpu_ratio}{spread}"
    )


def header(base: str, other: str) -> str:
    return (
        f"{'':<18}{base:>33}  |{other:>33}  |{'ratio':>16}\n"
        f"{'':<18}{'QPS':>9}{'p50 ms':>8}{'p99 ms':>8}{'CPU us':>8}"
        f"  |{'QPS':>9}{'p50 ms':>8}{'p99 ms':>8}{'CPU us':>8}  |{'QPS':>8}{'CPU us':>8}"
    )


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median QPS (its own latencies and CPU time with it)."""
    return sorted(runs, key=lambda run: float(run["qps"]))[len(runs) // 2]


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def paired(
    loadgen: Path,
    base: tuple[str, int],
    other: tuple[str, int],
    c: int,
    args: argparse.Namespace,
) -> str:
    """`--rounds` alternating runs of both servers at concurrency `c`, as one row: each
    side's median run, and with several rounds the range of the paired QPS ratios and
    the median of the paired CPU-per-call ratios."""
    bases, others = [], []
    for _ in range(args.rounds):
        bases.append(load(loadgen, base, c, args.duration))
        others.append(load(loadgen, other, c, args.duration))
    spread = ""
    if args.rounds > 1:
        pairs = list(zip(bases, others, strict=True))
        ratios = sorted(o["qps"] / b["qps"] for b, o in pairs)
        spread = f"  QPS {ratios[0]:.2f}-{ratios[-1]:.2f}"
        cpu = [o["cpu_us"] / b["cpu_us"] for b, o in pairs if b["cpu_us"] and o["cpu_us"]]
        if cpu:
            spread += f", CPU {min(cpu):.2f}-{max(cpu):.2f} (median {median(cpu):.2f})"
    return row(f"concurrency {c}", median_run(bases), median_run(others), spread)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated, e.g. 1,8,32")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per run")
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternating runs per concurrency; medians shown"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes compared with 1")
    parser.add_argument("--log-level", default="info", help="the runtime's SERVER_LOG_LEVEL")
    parser.add_argument(
        "--noop-interceptor",
        action="store_true",
        help="also compare the bare server with one pass-through interceptor (grpc.aio's floor)",
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    runtime_flags = ("--log-level", args.log_level)
    with tempfile.TemporaryDirectory() as tmp:
        loadgen = build_loadgen(Path(tmp))
        print(
            f"trivial unary call (GetModelReady), {args.duration:g} s per run, {os.cpu_count()} CPUs"
        )
        print(header("bare grpc.aio", f"runtime ({args.log_level})"))
        with serving("bare") as bare, serving("runtime", *runtime_flags) as runtime:
            for c in levels:
                print(paired(loadgen, bare, runtime, c, args), flush=True)
        if args.noop_interceptor:
            print()
            print(header("bare grpc.aio", "bare + no-op interceptor"))
            with serving("bare") as bare, serving("noop-interceptor") as noop:
                for c in levels:
                    print(paired(loadgen, bare, noop, c, args), flush=True)
        # SO_REUSEPORT spreads connections, not calls: one connection per caller group.
        top, conns = max(levels), 4 * args.workers
        print()
        print(header("runtime, 1 process", f"runtime, --workers {args.workers}"))
        with serving("runtime", *runtime_flags) as one:
            base = load(loadgen, one, top, args.duration, conns)
        with serving("runtime", *runtime_flags, "--workers", str(args.workers)) as many:
            other = load(loadgen, many, top, args.duration, conns)
        print(row(f"c {top}, {conns} conns", base, other), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
