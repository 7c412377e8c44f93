"""Stateful generation against the whole prefix every step, on the demo text model.

    .venv/bin/python bench/generate_state.py [--tokens 32,128,512] [--rounds 3]
        [--prompt fleet] [--cpu-threads 1]

Builds `textgen` (CharLM, the demo build's seed) into a temporary model repository
twice: as built (`[generate] state = true`: the prompt once, then one token and the
GRU's hidden state a step), and stateless, the same TorchScript weights behind a
wrapper that returns the logits alone and runs the whole sequence so far each step
(what the runtime did before `state`). Both run through `ModelRepository.generate`
on the CPU, in this process, taking turns; per length, the median over the rounds of
wall time per generated token, the ratio, and a check that both produced the same
tokens. Prints the load average before and after. About 20 seconds with the
defaults on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from contracts_runtime.inference import InputTensor, ModelRepository
from inference.build import DEMO_MODELS, build_model
from prometheus_client import CollectorRegistry
from torch import nn

NAME = "textgen"
# torch deprecates TorchScript for torch.export; the demo model is TorchScript.
warnings.filterwarnings("ignore", message="`torch.jit.", category=FutureWarning)


class WholePrefix(nn.Module):
    """The stateful module seen the stateless way: the logits of the whole sequence
    from no state."""

    def __init__(self, stateful: nn.Module) -> None:
        super().__init__()
        self.lm = stateful

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        logits, _ = self.lm(tokens, None)
        return logits  # type: ignore[no-any-return]


def build(root: Path, cpu_threads: int) -> tuple[Path, Path]:
    """Two repositories of `textgen`: stateful (as the demo build writes it) and
    stateless (the same weights, the whole prefix each step)."""
    [demo] = [d for d in DEMO_MODELS if d.name == NAME]
    stateful, stateless = root / "stateful", root / "stateless"
    build_model(demo, stateful)
    shutil.copytree(stateful, stateless)
    config = stateful / NAME / "config.toml"
    text = config.read_text(encoding="utf-8")
    if "state = true" not in text:
        sys.exit(f"{config}: the demo textgen is not stateful ([generate] state = true)")
    threads = f"\n[instances]\ncpu_threads = {cpu_threads}\n"
    config.write_text(text + threads, encoding="utf-8")
    (stateless / NAME / "config.toml").write_text(
        text.replace("state = true\n", "") + threads, encoding="utf-8"
    )
    weights = stateless / NAME / "1" / "model.pt"
    loaded = torch.jit.load(str(weights))  # type: ignore[no-untyped-call]
    torch.jit.save(torch.jit.script(WholePrefix(loaded)), str(weights))  # type: ignore[no-untyped-call]
    return stateful, stateless


async def generate(repo: ModelRepository, prompt: bytes, tokens: int) -> tuple[float, list[int]]:
    tensor = InputTensor(
        "prompt", "INT64", (len(prompt),), struct.pack(f"<{len(prompt)}q", *prompt)
    )
    started = time.perf_counter()
    got = [
        struct.unpack("<q", piece[0].data)[0]
        async for piece in repo.get(NAME).generate([tensor], [], {"max_tokens": tokens})
    ]
    elapsed = time.perf_counter() - started
    if len(got) != tokens:
        sys.exit(f"asked for {tokens} tokens, got {len(got)} (an eos token?)")
    return elapsed, got


async def measure(
    stateful: Path, stateless: Path, lengths: list[int], rounds: int, prompt: bytes
) -> dict[tuple[str, int], list[float]]:
    repos = {}
    for label, path in (("stateless", stateless), ("stateful", stateful)):
        repo = ModelRepository.load(path, device="cpu", registry=CollectorRegistry())
        await repo.warm_up()
        repos[label] = repo
    times: dict[tuple[str, int], list[float]] = {}
    try:
        for _ in range(rounds):
            for n in lengths:
                produced = {}
                for label, repo in repos.items():
                    elapsed, produced[label] = await generate(repo, prompt, n)
                    times.setdefault((label, n), []).append(elapsed / n)
                if produced["stateless"] != produced["stateful"]:
                    sys.exit(f"{n} tokens: stateless and stateful generated different tokens")
    finally:
        for repo in repos.values():
            await repo.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", default="32,128,512", help="generated lengths, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompt", default="fleet")
    parser.add_argument(
        "--cpu-threads", type=int, default=1, help="torch threads of the model instance"
    )
    args = parser.parse_args()
    lengths = [int(n) for n in args.tokens.split(",")]
    before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="generate-state-") as tmp:
        stateful, stateless = build(Path(tmp), args.cpu_threads)
        times = asyncio.run(
            measure(stateful, stateless, lengths, args.rounds, args.prompt.encode())
        )
    after = os.getloadavg()
    print(
        f"textgen (CharLM, GRU 64), prompt {args.prompt!r} ({len(args.prompt.encode())} tokens), "
        f"cpu_threads {args.cpu_threads}, median of {args.rounds} rounds, the same tokens both ways"
    )
    print(f"{'tokens':>7}  {'stateless ms/token':>18}  {'stateful ms/token':>17}  {'ratio':>7}")
    for n in lengths:
        old = statistics.median(times[("stateless", n)]) * 1e3
        new = statistics.median(times[("stateful", n)]) * 1e3
        print(f"{n:>7}  {old:>18.3f}  {new:>17.3f}  {old / new:>6.1f}x")
    print(f"load average before {before[0]:.2f}, after {after[0]:.2f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
