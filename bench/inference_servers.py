"""Inference servers side by side on the same model, machine and run: our server
(services/inference, the runtime's dynamic batcher), the naive thread-pool server
(bench/inference_naive.py) and NVIDIA Triton through PyTriton with its dynamic batcher
(bench/inference_triton.py), all three loading the same TorchScript files. The closed
loop Go load generator (bench/loadgen) sends Predict through the generated Go client,
and Triton's own KServe v2 ModelInfer, with the same tensor.

    .venv/bin/python bench/inference_servers.py [--concurrency 1,4,16,64] [--duration 5]
        [--workers 2] [--log-level info] [--repository services/inference/model_repository]

Prints, per concurrency, QPS, p50 and p99 of each server on the image classifier, the
mean batch size (inference count / execution count, from our server's and Triton's
metrics), the ratios, and the model's own batched throughput measured in-process; then
the trivial model (add_one) at the highest concurrency: per-process throughput and our
server with --workers against one process; then the issue's goals, met or not. About
three minutes with the defaults (the first run also makes .venv/triton, about a
minute; see bench/triton_venv.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from fleet.inference.v1 import inference_service_pb2 as inference
from fleet.inference.v1 import inference_service_pb2_grpc as inference_grpc
from prometheus_client.parser import text_string_to_metric_families
from runtime_vs_bare import build_loadgen, free_port
from triton_venv import triton_env, triton_python

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
REPOSITORY = ROOT / "services" / "inference" / "model_repository"
START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 40
MODEL_BOUND = "classifier"
TRIVIAL = "add_one"


@dataclass(frozen=True)
class Workload:
    """One model's request, read from its config.toml: the names, the input's shape
    with a batch dimension of 1, and the output's element count; and the model's
    instance count there."""

    model: str
    input: str
    output: str
    shape: tuple[int, ...]
    out_elems: int
    max_batch_size: int
    instances: int

    @classmethod
    def read(cls, repository: Path, model: str) -> Workload:
        path = repository / model / "config.toml"
        if not path.is_file():
            raise SystemExit(f"{path}: missing; scripts/setup.sh builds the demo models")
        config = tomllib.loads(path.read_text())
        (tensor_in,), (tensor_out,) = config["inputs"], config["outputs"]
        return cls(
            model,
            tensor_in["name"],
            tensor_out["name"],
            (1, *tensor_in["dims"]),
            math.prod(tensor_out["dims"]),
            config["max_batch_size"],
            config.get("instances", {}).get("count", 1),
        )


@dataclass(frozen=True)
class Server:
    label: str
    log: Path
    mode: str  # the load generator's: predict or kserve
    address: str
    metrics_url: str | None  # Prometheus text with the batch counters, if it has them
    count_metric: str = ""
    exec_metric: str = ""


@dataclass(frozen=True)
class Run:
    qps: float
    p50_ms: float
    p99_ms: float
    batch: float | None  # mean batch size during the run


@contextlib.contextmanager
def process(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server in its own process group: SIGTERM to it after, then SIGKILL to the group."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=ROOT
        )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT_S)


Probe = Callable[[], bool]


class StartFailed(Exception):
    """A server exited, or stayed unready, while starting."""


def started(proc: subprocess.Popen[bytes], log: Path, what: str, ready: Probe) -> None:
    """Waits until ready() is true; SystemExit when the server exits or stays unready."""
    try:
        wait_started(proc, log, what, ready)
    except StartFailed as failure:
        raise SystemExit(str(failure)) from None


def wait_started(proc: subprocess.Popen[bytes], log: Path, what: str, ready: Probe) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise StartFailed(f"{what} exited with {proc.returncode} while starting:\n{tail}")
        if ready():
            return
        time.sleep(0.5)
    raise StartFailed(f"{what} was not ready after {START_TIMEOUT_S} s; its log: {log}")


def fleet_ready(address: str, model: str) -> Probe:
    def ready() -> bool:
        with grpc.insecure_channel(address) as channel:
            stub = inference_grpc.InferenceServiceStub(channel)
            try:
                answer = stub.GetModelReady(
                    inference.GetModelReadyRequest(model_name=model), timeout=2
                )
            except grpc.RpcError:
                return False
            return bool(answer.ready)

    return ready


def http_ok(url: str) -> Probe:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return ready


@contextlib.contextmanager
def ours(repository: Path, logs: Path, log_level: str, workers: int = 1) -> Iterator[Server]:
    port, metrics = free_port(), free_port()
    args = [sys.executable, "-m", "inference", "--model-repository", str(repository)]
    args += ["--host", "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics)]
    args += ["--log-level", log_level, "--workers", str(workers)]
    log = logs / f"ours-{workers}.log"
    address = f"127.0.0.1:{port}"
    with process(args, log) as proc:
        url = f"http://127.0.0.1:{metrics}/metrics"
        ready, scrape = fleet_ready(address, MODEL_BOUND), http_ok(url)
        started(proc, log, "our server", lambda: ready() and scrape())
        yield Server(
            f"ours ({workers} proc)" if workers > 1 else "ours",
            log,
            "predict",
            address,
            url,
            "inference_count_total",
            "inference_exec_count_total",
        )


@contextlib.contextmanager
def naive(repository: Path, logs: Path, cpu_threads: int, stack: str = "sync") -> Iterator[Server]:
    """The naive server; with stack "aio", the bare grpc.aio floor (inference_naive.py)."""
    port = free_port()
    args = [sys.executable, str(BENCH / "inference_naive.py"), "--port", str(port)]
    args += ["--repository", str(repository), "--cpu-threads", str(cpu_threads)]
    args += ["--stack", stack]
    log = logs / f"naive-{stack}.log"
    address = f"127.0.0.1:{port}"
    label = "naive" if stack == "sync" else "bare grpc.aio floor"
    with process(args, log) as proc:
        started(proc, log, f"the {label} server", fleet_ready(address, MODEL_BOUND))
        yield Server(label, log, "predict", address, None)


@contextlib.contextmanager
def triton(
    repository: Path, logs: Path, python: Path, cpu_threads: int, instances: int
) -> Iterator[Server]:
    grpc_port, http_port, metrics = free_port(), free_port(), free_port()
    args = [str(python), str(BENCH / "inference_triton.py"), "--repository", str(repository)]
    args += ["--models", f"{MODEL_BOUND},{TRIVIAL}", "--grpc-port", str(grpc_port)]
    args += ["--http-port", str(http_port), "--metrics-port", str(metrics)]
    args += ["--cpu-threads", str(cpu_threads), "--instances", str(instances or 1)]
    probes = [
        http_ok(f"http://127.0.0.1:{http_port}/v2/models/{name}/ready")
        for name in (MODEL_BOUND, TRIVIAL)
    ] + [http_ok(f"http://127.0.0.1:{metrics}/metrics")]
    for attempt in (1, 2):
        log = logs / f"triton-{attempt}.log"
        with process(args, log, env=triton_env()) as proc:
            try:
                wait_started(proc, log, "Triton", lambda: all(probe() for probe in probes))
            except StartFailed as failure:
                # PyTriton 0.7.0 gives the Python backend 1 s (not configurable) to fetch
                # each model's config from the callable's process; on a loaded machine
                # that can time out and the model fails to load.
                if attempt == 2:
                    raise SystemExit(str(failure)) from None
                print("Triton failed to start; trying once more", file=sys.stderr, flush=True)
                continue
            yield Server(
                "Triton",
                log,
                "kserve",
                f"127.0.0.1:{grpc_port}",
                f"http://127.0.0.1:{metrics}/metrics",
                # prometheus_client's parser names counter samples with _total.
                "nv_inference_count_total",
                "nv_inference_exec_count_total",
            )
            return


def prepare_repository(source: Path, dest: Path, cpu_threads: int, instances: int) -> Path:
    """A copy of the model repository that every server loads; each model's
    `[instances]` table (the runtime's) set to these values where they are not 0."""
    shutil.copytree(source, dest)
    if not (cpu_threads or instances):
        return dest
    for path in dest.glob("*/config.toml"):
        config = tomllib.loads(path.read_text())
        table = dict(config.get("instances", {}))
        table.update({k: v for k, v in (("count", instances), ("cpu_threads", cpu_threads)) if v})
        kept, inside = [], False
        for line in path.read_text().splitlines():
            if line.strip().startswith("["):
                inside = line.strip() == "[instances]"
            if not inside:
                kept.append(line)
        kept += ["", "[instances]", *(f"{key} = {value}" for key, value in table.items())]
        text = "\n".join(kept) + "\n"
        if tomllib.loads(text) != {**config, "instances": table}:
            raise SystemExit(f"{path}: could not rewrite its [instances] table")
        path.write_text(text)
    return dest


def counters(server: Server, model: str) -> tuple[float, float]:
    """The server's inference and execution counts of the model so far."""
    assert server.metrics_url is not None
    try:
        with urllib.request.urlopen(server.metrics_url, timeout=10) as answer:
            text = answer.read().decode()
    except (urllib.error.URLError, OSError) as error:
        raise SystemExit(
            f"{server.label}: its metrics at {server.metrics_url}: {error}; its log ends:\n"
            + server.log.read_text(errors="replace")[-3000:]
        ) from None
    count = executions = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("model") != model:
                continue
            if sample.name == server.count_metric:
                count += sample.value
            elif sample.name == server.exec_metric:
                executions += sample.value
    return count, executions


def drive(
    loadgen: Path,
    server: Server,
    work: Workload,
    concurrency: int,
    duration: float,
    conns: int = 1,
    batch: bool = True,
) -> Run:
    before = counters(server, work.model) if batch and server.metrics_url else None
    args = [str(loadgen), "-mode", server.mode, "-addr", server.address]
    args += ["-model", work.model, "-input", work.input, "-output", work.output]
    args += ["-shape", ",".join(map(str, work.shape)), "-out-elems", str(work.out_elems)]
    args += ["-c", str(concurrency), "-conns", str(conns), "-warmup", "1s", "-d", f"{duration}s"]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=duration + 60)
    result = json.loads(out.stdout)
    if result["errors"]:
        raise SystemExit(
            f"{server.label}, {work.model} at concurrency {concurrency}: {result['errors']} "
            f"calls failed, the first with: {result.get('first_error')}; its log ends:\n"
            + server.log.read_text(errors="replace")[-3000:]
        )
    mean_batch = None
    if before is not None:
        after = counters(server, work.model)
        executions = after[1] - before[1]
        mean_batch = (after[0] - before[0]) / executions if executions else None
    return Run(result["qps"], result["p50_ms"], result["p99_ms"], mean_batch)


def device(server: Server) -> str:
    with grpc.insecure_channel(server.address) as channel:
        meta = inference_grpc.InferenceServiceStub(channel).GetModelMetadata(
            inference.GetModelMetadataRequest(model_name=MODEL_BOUND), timeout=10
        )
    return str(meta.device)


def model_throughput(
    repository: Path, work: Workload, cpu_threads: int, batch: int, seconds: float = 2.0
) -> float:
    """Items per second of one instance of the model alone, in this process with the
    servers' torch threads: at batch 1 what one request costs, at the max batch size
    the most batching can give."""
    import torch

    if cpu_threads:
        torch.set_num_threads(cpu_threads)
    root = repository / work.model
    version = max((p.name for p in root.iterdir() if p.name.isdigit()), key=int)
    module = torch.jit.load(str(root / version / "model.pt")).eval()  # type: ignore[no-untyped-call]
    x = torch.rand(batch, *work.shape[1:])
    with torch.inference_mode():
        module(x)
        items, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            module(x)
            items += batch
    return items / (time.perf_counter() - began)


def cell(run: Run, with_batch: bool) -> str:
    text = f"{run.qps:>7.0f}{run.p50_ms:>7.2f}{run.p99_ms:>8.2f}"
    if with_batch:
        text += f"{run.batch:>6.1f}" if run.batch is not None else f"{'-':>6}"
    return text


def ratio(ours: Run, other: Run) -> str:
    return f"{ours.qps / other.qps:>6.2f}x{ours.p99_ms / other.p99_ms:>6.2f}x"


def load_average() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,4,16,64", help="comma-separated")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per run")
    parser.add_argument("--workers", type=int, default=2, help="our worker processes vs 1")
    parser.add_argument("--log-level", default="info", help="our server's SERVER_LOG_LEVEL")
    parser.add_argument("--repository", type=Path, default=REPOSITORY, help="model repository")
    parser.add_argument(
        "--cpu-threads",
        type=int,
        default=1,
        help="torch intra-op threads of every server's model (0: each server's default)",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=0,
        help="model instances (runner threads) in ours and Triton; 0 (the default): "
        "each config's own",
    )
    args = parser.parse_args()
    try:
        args.levels = [int(c) for c in args.concurrency.split(",")]
    except ValueError:
        parser.error(f"--concurrency {args.concurrency!r}: expected whole numbers, such as 1,4,16")
    if min(args.levels) < 1 or args.duration <= 0 or args.workers < 1:
        parser.error("--concurrency levels, --duration and --workers must be above 0")
    if args.cpu_threads < 0 or args.instances < 0:
        parser.error("--cpu-threads and --instances must be 0 or more")
    return args


def main() -> int:
    args = arguments()
    trivial = Workload.read(args.repository, TRIVIAL)
    python = triton_python()
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        repository = prepare_repository(
            args.repository, logs / "models", args.cpu_threads, args.instances
        )
        model = Workload.read(repository, MODEL_BOUND)
        loadgen = build_loadgen(logs)
        alone = model_throughput(repository, model, args.cpu_threads, 1)
        own = model_throughput(repository, model, args.cpu_threads, model.max_batch_size)
        began = time.monotonic()
        threads = args.cpu_threads or "each server's default"
        print(
            f"{os.cpu_count()} CPUs, load average {load_average()} at the start; torch threads "
            f"per model instance: {threads}, {model.model} instances: {model.instances}"
            + ("" if args.instances else " (as configured)")
        )
        print(
            f"{model.model}: input {model.input} FP32 {list(model.shape)}, max batch "
            f"{model.max_batch_size}; one instance of the model alone, in-process: "
            f"{alone:.0f} items/s at batch 1, {own:.0f} at batch {model.max_batch_size}; "
            f"{args.duration:g} s per run"
        )
        with (
            ours(repository, logs, args.log_level) as mine,
            naive(repository, logs, args.cpu_threads) as hand,
            triton(repository, logs, python, args.cpu_threads, model.instances) as nvidia,
        ):
            where = device(mine)
            print(f"device: {where}" + ("" if where.startswith("cuda") else " (no GPU used)"))
            servers = (mine, hand, nvidia)
            results = model_bound(loadgen, servers, model, args.levels, args.duration)
            top = max(args.levels)
            small = {s.label: drive(loadgen, s, trivial, top, args.duration) for s in servers}
        with (
            ours(repository, logs, args.log_level) as mine_again,
            naive(repository, logs, args.cpu_threads) as hand_again,
            naive(repository, logs, args.cpu_threads, stack="aio") as floor,
        ):
            small[floor.label] = drive(loadgen, floor, trivial, top, args.duration)
            lone = lone_latency(loadgen, (mine_again, hand_again, floor), model)
        scaling = workers_scaling(loadgen, repository, logs, trivial, top, args)
        print(f"\n{trivial.model} (FP32 {list(trivial.shape)}), concurrency {top}:")
        print(f"{'':<24}{'QPS':>7}{'p50':>7}{'p99':>8}{'batch':>6}")
        for label, run in small.items():
            print(f"{label:<24}{cell(run, True)}")
        print(scaling)
        floor_qps = small[floor.label].qps
        print(
            f"goal: per-process throughput at grpcio's limit: ours {small[mine.label].qps:.0f} "
            f"= {small[mine.label].qps / floor_qps:.0%} of a bare grpc.aio server answering "
            f"the same call with the same model on its event loop ({floor_qps:.0f})"
        )
        print()
        goals(results, mine.label, hand.label, nvidia.label, own * model.instances)
        print(lone)
        print(f"\n{time.monotonic() - began:.0f} s; load average {load_average()} at the end")
    return 0


def model_bound(
    loadgen: Path,
    servers: tuple[Server, Server, Server],
    work: Workload,
    levels: list[int],
    duration: float,
) -> dict[int, dict[str, Run]]:
    """The three servers, ours first, at each concurrency in turn; a row as each ends."""
    mine, hand, nvidia = servers
    print(
        f"{'':>4} |{'ours (batcher)':^28}|{'naive thread pool':^22}|"
        f"{'Triton (PyTriton)':^28}|{'ours/naive':^14}|{'ours/Triton':^14}| load"
    )
    print(
        f"{'c':>4} |" + f"{'QPS':>7}{'p50':>7}{'p99':>8}{'batch':>6}|"
        f"{'QPS':>7}{'p50':>7}{'p99':>8}|"
        + f"{'QPS':>7}{'p50':>7}{'p99':>8}{'batch':>6}|"
        + f"{'QPS':>7}{'p99':>7}|" * 2
    )
    results: dict[int, dict[str, Run]] = {}
    for c in levels:
        runs = {s.label: drive(loadgen, s, work, c, duration) for s in servers}
        results[c] = runs
        a, b, t = runs[mine.label], runs[hand.label], runs[nvidia.label]
        print(
            f"{c:>4} |{cell(a, True)}|{cell(b, False)}|{cell(t, True)}|"
            f"{ratio(a, b)}|{ratio(a, t)}| {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    return results


def workers_scaling(
    loadgen: Path, repository: Path, logs: Path, work: Workload, c: int, args: argparse.Namespace
) -> str:
    """Our server with --workers N against one process, the same connections to each
    (SO_REUSEPORT spreads connections, not calls); two lines of the small table."""
    conns = 4 * args.workers
    with ours(repository, logs, args.log_level) as one:
        single = drive(loadgen, one, work, c, args.duration, conns, batch=False)
    with ours(repository, logs, args.log_level, args.workers) as many:
        multi = drive(loadgen, many, work, c, args.duration, conns, batch=False)
    per_process = multi.qps / args.workers
    return (
        f"{f'ours, 1 proc, {conns} conns':<24}{cell(single, False)}\n"
        f"{f'ours, {args.workers} procs, {conns} conns':<24}{cell(multi, False)}  "
        f"scaling {multi.qps / single.qps:.2f}x, per process {per_process:.0f} "
        "(goal: grpcio's limit, about 2,000 to 3,000 per core)"
    )


LONE_ROUNDS = 9
LONE_SECONDS = 1.5


def lone_latency(loadgen: Path, servers: tuple[Server, Server, Server], work: Workload) -> str:
    """The goal at one request in flight, apart from the table's single runs (a p50
    moves by more than the 0.3 ms at stake between runs a minute apart): ours, the
    naive server and the bare grpc.aio floor in turn, LONE_ROUNDS times. Each gap is
    the median of the rounds' own differences, so a slow spell of the machine moves
    both sides of a difference alike. The floor runs the model on its event loop, no
    hand-off: what any grpc.aio server adds over the synchronous one, so the gap
    splits into grpc.aio's and our server's."""
    p50s: dict[str, list[float]] = {s.label: [] for s in servers}
    for _ in range(LONE_ROUNDS):
        for server in servers:
            p50s[server.label].append(drive(loadgen, server, work, 1, LONE_SECONDS).p50_ms)
    mine, hand, floor = (p50s[s.label] for s in servers)

    def gap(a: list[float], b: list[float]) -> float:
        return statistics.median(x - y for x, y in zip(a, b, strict=True))

    ours_gap = gap(mine, hand)
    return (
        f"goal: p50 at concurrency 1 within 0.3 ms of the naive server's "
        f"({LONE_ROUNDS} alternating {LONE_SECONDS:g} s runs; medians ours "
        f"{statistics.median(mine):.2f} ms, naive {statistics.median(hand):.2f}, bare grpc.aio "
        f"floor {statistics.median(floor):.2f}): {ours_gap:+.2f} ms, "
        f"{'met' if ours_gap <= 0.3 else 'missed'}; of it grpc.aio's own "
        f"{gap(floor, hand):+.2f}, our server's {gap(mine, floor):+.2f} (medians of the "
        "rounds' differences)"
    )


def goals(
    results: dict[int, dict[str, Run]], mine: str, hand: str, nvidia: str, ceiling: float
) -> None:
    """The issue's goals on the model-bound endpoint, per concurrency; `ceiling` is the
    model's own batched throughput times its instances."""

    def verdict(other: str, factor: float) -> str:
        met = [
            c
            for c, runs in results.items()
            if runs[mine].qps >= factor * runs[other].qps
            and runs[mine].p99_ms <= runs[other].p99_ms
        ]
        missed = [c for c in results if c not in met]
        return f"met at c {met or 'none'}, missed at c {missed or 'none'}"

    print(f"goal: >= 3x the naive server's QPS at no worse p99: {verdict(hand, 3.0)}")
    print(f"goal: >= Triton's QPS at no worse p99: {verdict(nvidia, 1.0)}")
    best = max(runs[mine].qps for runs in results.values())
    print(
        f"end-to-end QPS / the model's own batched throughput x instances: {best / ceiling:.0%} "
        "(best concurrency; the goal of 80% is for a GPU)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
