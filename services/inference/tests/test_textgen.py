"""The demo text model carries its GRU state between steps (`[generate] state = true`):
greedy decoding that feeds it one token and the state gives exactly the tokens of
running the whole prefix every step, on the module and through the runtime."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest
import torch
from contracts_runtime.inference import InputTensor, ModelRepository, load_configs
from prometheus_client import CollectorRegistry

from inference.build import DEMO_MODELS, build_model

PROMPTS = ["fleet", "a", "hello world", "The quick brown fox"]
STEPS = 64


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    [textgen] = [d for d in DEMO_MODELS if d.name == "textgen"]
    build_model(textgen, root)
    return root


def load(repository: Path) -> torch.jit.ScriptModule:
    module: torch.jit.ScriptModule = torch.jit.load(  # type: ignore[no-untyped-call]
        str(repository / "textgen" / "1" / "model.pt")
    )
    return module


def ids_of(prompt: str) -> torch.Tensor:
    return torch.tensor([list(prompt.encode())])


def whole_prefix(module: torch.jit.ScriptModule, prompt: str) -> list[int]:
    """The stateless computation: the whole sequence so far, every step, from no state."""
    ids = ids_of(prompt)
    produced = []
    for _ in range(STEPS):
        logits, _ = module(ids, None)
        token = int(logits[0].argmax())
        produced.append(token)
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return produced


def carried(module: torch.jit.ScriptModule, prompt: str) -> list[int]:
    """The prompt once, then one token and the state the step before returned."""
    ids, state = ids_of(prompt), None
    produced = []
    for _ in range(STEPS):
        logits, state = module(ids, state)
        token = int(logits[0].argmax())
        produced.append(token)
        ids = torch.tensor([[token]])
    return produced


@pytest.mark.parametrize("prompt", PROMPTS)
def test_carrying_the_state_gives_the_whole_prefix_tokens(repository: Path, prompt: str) -> None:
    module = load(repository)
    with torch.inference_mode():
        expected = whole_prefix(module, prompt)
        assert carried(module, prompt) == expected
    assert len(set(expected)) > 3  # a sequence, not one token repeated


def test_the_runtime_streams_the_same_tokens(repository: Path) -> None:
    [config] = load_configs(repository)
    assert config.generate is not None and config.generate.state
    module = load(repository)
    with torch.inference_mode():
        expected = {p: whole_prefix(module, p) for p in PROMPTS}

    async def scenario() -> dict[str, list[int]]:
        repo = ModelRepository.load(repository, device="cpu", registry=CollectorRegistry())
        await repo.warm_up()
        model = repo.get("textgen")
        got = {}
        for prompt in PROMPTS:
            data = prompt.encode()
            tensor = InputTensor(
                "prompt", "INT64", (len(data),), struct.pack(f"<{len(data)}q", *data)
            )
            stream = model.generate([tensor], [], {"max_tokens": STEPS})
            got[prompt] = [struct.unpack("<q", piece[0].data)[0] async for piece in stream]
        await repo.close()
        return got

    assert asyncio.run(asyncio.wait_for(scenario(), 60)) == expected
