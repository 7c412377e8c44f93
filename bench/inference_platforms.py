"""The same classifier served from TorchScript, from a state dict (an eager nn.Module)
in the serving process, and from the same state dict in a model process of its own
(`[instances] isolation = "process"`), by one of our servers in one run: what the GIL
costs an eager model next to the event loop, and what a process of its own wins back
(runtime/README.md, "Instances, threads and the GIL").

    .venv/bin/python bench/inference_platforms.py [--concurrency 1,16,64] [--duration 5]
        [--rounds 2]

The demo repository holds both: `classifier` (model.pt, TorchScript, whose forward pass
runs without the GIL) and `classifier_state_dict` (weights.pt loaded into
inference.models.TinyConvNet, which takes the GIL back between operators); they answer
alike (services/inference/tests/test_flagship.py). The third, `classifier_process`, is a
copy of `classifier_state_dict` whose instance runs in a child process. One server loads
the three, one instance each with one intra-op thread; the closed-loop Go load generator
(bench/loadgen) drives them in turn at each concurrency, `--rounds` times, and the table
shows medians of QPS and p99 and each one's ratio to TorchScript.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from inference_servers import REPOSITORY, Run, Workload, drive, ours, prepare_repository
from runtime_vs_bare import build_loadgen

SCRIPTED = "classifier"
EAGER = "classifier_state_dict"
ISOLATED = "classifier_process"
MODELS = (SCRIPTED, EAGER, ISOLATED)


def add_isolated(repository: Path) -> None:
    """`ISOLATED`: the eager twin, its instance in a model process."""
    shutil.copytree(repository / EAGER, repository / ISOLATED)
    config = repository / ISOLATED / "config.toml"
    text = config.read_text().replace(f'name = "{EAGER}"', f'name = "{ISOLATED}"')
    text = text.replace("[instances]\n", '[instances]\nisolation = "process"\n')
    if 'isolation = "process"' not in text or f'name = "{ISOLATED}"' not in text:
        raise SystemExit(f"{config}: could not make the process-isolated copy")
    config.write_text(text)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs per model and concurrency")
    args = parser.parse_args()
    try:
        args.levels = [int(c) for c in args.concurrency.split(",")]
    except ValueError:
        parser.error(f"--concurrency {args.concurrency!r}: expected whole numbers, such as 1,16")
    if min(args.levels) < 1 or args.duration <= 0 or args.rounds < 1:
        parser.error("--concurrency levels, --duration and --rounds must be above 0")
    return args


def median_run(runs: list[Run]) -> tuple[float, float, float]:
    return (
        statistics.median(r.qps for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
    )


def main() -> int:
    args = arguments()
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        repository = prepare_repository(REPOSITORY, logs / "models", 1, 1)
        add_isolated(repository)
        work = {name: Workload.read(repository, name) for name in MODELS}
        loadgen = build_loadgen(logs)
        print(
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; "
            f"one instance of each model, one torch thread; medians of {args.rounds} runs "
            f"of {args.duration:g} s"
        )
        print(
            f"{'c':>4} | {'TorchScript QPS  p50   p99':>27} | {'eager QPS  p50   p99':>21} | "
            f"{'eager, process QPS  p50   p99':>30} | QPS over TorchScript's"
        )
        with ours(repository, logs, "info") as server:
            for c in args.levels:
                runs: dict[str, list[Run]] = {name: [] for name in MODELS}
                for _ in range(args.rounds):
                    for name in MODELS:
                        runs[name].append(drive(loadgen, server, work[name], c, args.duration))
                (tq, t50, t99), (eq, e50, e99), (pq, p50, p99) = (
                    median_run(runs[name]) for name in MODELS
                )
                print(
                    f"{c:>4} | {tq:>13.0f} {t50:>6.2f} {t99:>6.2f} | {eq:>9.0f} {e50:>6.2f} "
                    f"{e99:>6.2f} | {pq:>16.0f} {p50:>6.2f} {p99:>6.2f} | eager {eq / tq:.2f}x, "
                    f"process {pq / tq:.2f}x; load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
