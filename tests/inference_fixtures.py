"""Tiny torch models for the inference tests, built from fixed seeds, and a writer of
model repositories in each platform's format. Importable as `inference_fixtures:Class`
(the tests folder is on sys.path), which is what a state-dict config names.

The recording model's calls are kept per `tag` (a constructor argument), so a test
counts exactly what reached the model; its gate holds a forward pass until the test
opens it, which makes batching scenarios deterministic."""

from __future__ import annotations

import os
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Per tag: the input shapes each forward pass saw, and torch's thread count there.
CALLS: dict[str, list[tuple[int, ...]]] = {}
THREADS: dict[str, list[int]] = {}
THREAD_NAMES: dict[str, list[str]] = {}
GATES: dict[str, threading.Event] = {}
# Per tag: each step of a recording stateful model, as (the ids it was given, the
# state it was given, the state it returned).
STATEFUL_STEPS: dict[str, list[tuple[list[list[int]], Any, Any]]] = {}
STEPS: dict[str, threading.Semaphore] = {}
GATE_BOUND_S = 10.0


def gate(tag: str) -> threading.Event:
    return GATES.setdefault(tag, _open_event())


def _open_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


class ExitOnNegative(nn.Module):
    """x [-1] -> y = x * scale + 1, and the process it runs in exits (code 3) on a
    negative input: a model process dying mid-batch. Reports its process id as y[0]
    when the input is empty of negatives and its first element is 1234."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x < 0).any()):
            os._exit(3)
        if bool((x[:, 0] == 1234).all()):
            return torch.full_like(x, float(os.getpid()))
        return x * self.scale + 1


class TinyClassifier(nn.Module):
    """image [3, 4, 4] -> logits [3] and label [] (the arg max)."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, kernel_size=3, padding=1)
        self.head = nn.Linear(4 * 4 * 4, classes)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.head(torch.relu(self.conv(image)).flatten(1))
        return {"logits": logits, "label": logits.argmax(dim=1)}


class Recording(nn.Module):
    """x [-1] -> y [-1] = x * scale + 1; records each call, waits at the gate, and
    raises CUDA's out-of-memory error above `oom_above` rows (0: never), and a
    ValueError on a negative input when `fail_on_negative`."""

    def __init__(self, tag: str, oom_above: int = 0, fail_on_negative: bool = False) -> None:
        super().__init__()
        self.tag = tag
        self.oom_above = oom_above
        self.fail_on_negative = fail_on_negative
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        CALLS.setdefault(self.tag, []).append(tuple(x.shape))
        THREADS.setdefault(self.tag, []).append(torch.get_num_threads())
        THREAD_NAMES.setdefault(self.tag, []).append(threading.current_thread().name)
        assert gate(self.tag).wait(GATE_BOUND_S), "test gate never opened"
        if self.oom_above and x.shape[0] > self.oom_above:
            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory. Tried to allocate {x.shape[0]} rows (simulated)"
            )
        if self.fail_on_negative and bool((x < 0).any()):
            raise ValueError("negative input")
        return x * self.scale + 1


class TinyLM(nn.Module):
    """Token ids [1, seq] -> next-token logits [1, vocab]."""

    def __init__(self, vocab: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.head = nn.Linear(8, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden = self.embed(ids)
        # The last token weighs most, so the greedy sequence does not settle at once.
        return self.head(hidden.mean(dim=1) + hidden[:, -1])


def wait_for_step(tag: str, ids: torch.Tensor) -> None:
    """Record a generation step in CALLS[tag], then wait for a permit of STEPS[tag]."""
    CALLS.setdefault(tag, []).append(tuple(ids.shape))
    permit = STEPS.setdefault(tag, threading.Semaphore(0))
    assert permit.acquire(timeout=GATE_BOUND_S), "test never allowed this step"


class GatedLM(TinyLM):
    """TinyLM (same weights) whose every step is recorded and waits for a permit of
    STEPS[tag], which the test hands out one step at a time."""

    def __init__(self, tag: str, vocab: int = 16) -> None:
        super().__init__(vocab)
        self.tag = tag

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        wait_for_step(self.tag, ids)
        return super().forward(ids)


class StatefulLM(nn.Module):
    """TinyLM's layers and arithmetic (the same seed gives the same weights), carrying
    its state between steps: (the sum of the embeddings seen so far, their count), a
    tuple of tensors. A step reads only the ids it is given; its greedy tokens are
    TinyLM's on the whole prefix. The state defaults to None, so a stateless call
    runs too (and returns the pair a stateless config refuses)."""

    def __init__(self, vocab: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.head = nn.Linear(8, vocab)

    def forward(
        self, ids: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        hidden = self.embed(ids)
        total = hidden.sum(dim=1)
        count = torch.full([1], float(ids.shape[1]), device=ids.device)
        if state is not None:
            total = total + state[0]
            count = count + state[1]
        return self.head(total / count + hidden[:, -1]), (total, count)


class RecordingStatefulLM(StatefulLM):
    """StatefulLM recording each step in STATEFUL_STEPS[tag]."""

    def __init__(self, tag: str, vocab: int = 16) -> None:
        super().__init__(vocab)
        self.tag = tag

    def forward(
        self, ids: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        logits, new = super().forward(ids, state)
        STATEFUL_STEPS.setdefault(self.tag, []).append((ids.tolist(), state, new))
        return logits, new


class GatedStatefulLM(StatefulLM):
    """StatefulLM whose every step is recorded in CALLS[tag] and waits for a permit of
    STEPS[tag], as GatedLM's."""

    def __init__(self, tag: str, vocab: int = 16) -> None:
        super().__init__(vocab)
        self.tag = tag

    def forward(
        self, ids: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        wait_for_step(self.tag, ids)
        return super().forward(ids, state)


class LogitsOnly(StatefulLM):
    """Takes a state but returns bare logits: a model that breaks `state = true`."""

    def forward(  # type: ignore[override]
        self, ids: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        return self.head(self.embed(ids).sum(dim=1))


def seeded(cls: type[nn.Module], seed: int = 0, **kwargs: Any) -> nn.Module:
    torch.manual_seed(seed)
    return cls(**kwargs).eval()


def tensor_table(kind: str, name: str, dtype: str, dims: Sequence[int]) -> str:
    return f'[[{kind}]]\nname = "{name}"\ndtype = "{dtype}"\ndims = {list(dims)}\n'


CLASSIFIER_TENSORS = (
    tensor_table("inputs", "image", "FP32", [3, 4, 4])
    + tensor_table("outputs", "logits", "FP32", [3])
    + tensor_table("outputs", "label", "INT64", [])
)
RECORDING_TENSORS = tensor_table("inputs", "x", "FP32", [-1]) + tensor_table(
    "outputs", "y", "FP32", [-1]
)
LM_TENSORS = tensor_table("inputs", "tokens", "INT64", [-1]) + tensor_table(
    "outputs", "token", "INT64", [-1]
)


def write_model(
    root: Path,
    name: str,
    platform: str,
    module: nn.Module,
    *,
    tensors: str,
    header: str = "",
    tables: str = "",
    example: Sequence[torch.Tensor] = (),
    dynamic: Sequence[dict[int, Any]] = (),
    versions: Sequence[str] = ("1",),
) -> Path:
    """One model folder: config.toml (`header` lines before the tables) and the weights
    of `module` in `platform`'s format in each version folder."""
    folder = root / name
    for version in versions:
        target = folder / version
        target.mkdir(parents=True, exist_ok=True)
        if platform == "torchscript":
            torch.jit.save(torch.jit.script(module), str(target / "model.pt"))  # type: ignore[no-untyped-call]
        elif platform == "torch_export":
            program = torch.export.export(module, tuple(example), dynamic_shapes=tuple(dynamic))
            torch.export.save(program, str(target / "model.pt2"))
        else:
            torch.save(module.state_dict(), str(target / "weights.pt"))
    config = f'name = "{name}"\nplatform = "{platform}"\n' + textwrap.dedent(header).strip()
    (folder / "config.toml").write_text(
        config + "\n\n" + textwrap.dedent(tables).strip() + "\n\n" + tensors, encoding="utf-8"
    )
    return folder
