"""The serving runtime's cost: a contracts_runtime service against a bare grpc.aio server,
both answering the same trivial unary handler (bench/trivial_service.py), driven by a Go
load generator built on the generated Go client (bench/loadgen), at several concurrencies;
then the runtime with --workers N against one process. Prints QPS, p50 and p99 side by
side with the runtime/bare ratio.

    .venv/bin/python bench/runtime_vs_bare.py [--concurrency 1,8,32] [--duration 5]
        [--workers 2] [--log-level info] [--noop-interceptor]

About 80 s with the defaults. The load generator shares the machine's cores with the
server, as on a 2-core CI runner; read the numbers as this machine's, not grpcio's limit.
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


@contextlib.contextmanager
def serving(mode: str, *flags: str) -> Iterator[str]:
    """One server process (its own process group, killed whole after); its address."""
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
        yield address
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_S)


def load(
    loadgen: Path, address: str, concurrency: int, duration: float, conns: int = 1
) -> dict[str, Any]:
    out = subprocess.run(
        [
            str(loadgen),
            "-addr",
            address,
            "-c",
            str(concurrency),
            "-conns",
            str(conns),
            "-warmup",
            "1s",
            "-d",
            f"{duration}s",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    if result["errors"]:
        raise SystemExit(f"{result['errors']} calls failed against {address}")
    return result


def row(label: str, base: dict[str, Any], other: dict[str, Any]) -> str:
    return (
        f"{label:<18}{base['qps']:>9.0f}{base['p50_ms']:>8.2f}{base['p99_ms']:>8.2f}"
        f"  |{other['qps']:>9.0f}{other['p50_ms']:>8.2f}{other['p99_ms']:>8.2f}"
        f"  |{other['qps'] / base['qps']:>7.2f}x"
    )


def header(base: str, other: str) -> str:
    return (
        f"{'':<18}{base:>25}  |{other:>25}  |{'ratio':>8}\n"
        f"{'':<18}{'QPS':>9}{'p50 ms':>8}{'p99 ms':>8}  |{'QPS':>9}{'p50 ms':>8}{'p99 ms':>8}"
        f"  |{'QPS':>8}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated, e.g. 1,8,32")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per run")
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
                base = load(loadgen, bare, c, args.duration)
                other = load(loadgen, runtime, c, args.duration)
                print(row(f"concurrency {c}", base, other), flush=True)
        if args.noop_interceptor:
            print()
            print(header("bare grpc.aio", "bare + no-op interceptor"))
            with serving("bare") as bare, serving("noop-interceptor") as noop:
                for c in levels:
                    base = load(loadgen, bare, c, args.duration)
                    other = load(loadgen, noop, c, args.duration)
                    print(row(f"concurrency {c}", base, other), flush=True)
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
