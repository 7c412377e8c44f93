"""Generation (kind = "generate") on a tiny seeded language model: tokens stream as the
model produces them, equal to greedy decoding run by hand; max_tokens and eos stop it;
cancellation and the deadline are honoured between tokens. A stateful model
(`[generate] state = true`) gets the prompt, then one token and the state the step
before returned, and gives the whole prefix's tokens; one that breaks the protocol
fails warm-up. Every wait is bounded."""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import grpc
import inference_fixtures as fx
import pytest
import torch
from contracts_runtime.inference import (
    InferenceError,
    InputTensor,
    ModelRepository,
    OutputTensor,
    RepositoryError,
)
from prometheus_client import CollectorRegistry

T = TypeVar("T")
PROMPT = [3, 1, 4]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 60))


def tokens(ids: list[int]) -> InputTensor:
    return InputTensor("tokens", "INT64", (len(ids),), struct.pack(f"<{len(ids)}q", *ids))


def token_of(piece: list[OutputTensor]) -> int:
    [out] = piece
    assert (out.name, out.dtype, out.shape) == ("token", "INT64", (1,))
    value: int = struct.unpack("<q", out.data)[0]
    return value


def greedy(model: torch.nn.Module, prompt: list[int], steps: int) -> list[int]:
    ids = torch.tensor([prompt])
    produced = []
    with torch.inference_mode():
        for _ in range(steps):
            token = int(model(ids)[0].argmax())
            produced.append(token)
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return produced


def lm_repo(
    root: Path, generate: str = "max_tokens = 6", tag: str = "", stateful: bool = False
) -> torch.nn.Module:
    """TinyLM; with a tag, gated a step at a time (GatedLM, or GatedStatefulLM with
    `[generate] state = true` when `stateful`)."""
    model = fx.seeded(fx.TinyLM, seed=3)
    platform = "state_dict" if tag else "torchscript"
    tables = f"[generate]\n{generate}\n" + ("state = true\n" if stateful else "")
    if tag:
        fx.CALLS.pop(tag, None)
        # The warm-up's steps: one, or two for a stateful model.
        fx.STEPS[tag] = threading.Semaphore(2 if stateful else 1)
        cls = "GatedStatefulLM" if stateful else "GatedLM"
        tables += f'\n[state_dict]\nmodule = "inference_fixtures:{cls}"\nkwargs = {{ vocab = 16, tag = "{tag}" }}\n'
    fx.write_model(
        root,
        "lm",
        platform,
        model,
        tensors=fx.LM_TENSORS,
        header='kind = "generate"\nmax_batch_size = 0',
        tables=tables,
    )
    return model


async def loaded(root: Path, registry: CollectorRegistry | None = None) -> ModelRepository:
    repo = ModelRepository.load(root, device="cpu", registry=registry or CollectorRegistry())
    await repo.warm_up()
    return repo


async def collect(stream: AsyncIterator[list[OutputTensor]]) -> list[int]:
    return [token_of(piece) async for piece in stream]


def test_tokens_stream_as_greedy_decoding(tmp_path: Path) -> None:
    model = lm_repo(tmp_path)
    expected = greedy(model, PROMPT, 6)

    async def scenario() -> list[list[int]]:
        repo = await loaded(tmp_path)
        lm = repo.get("lm")
        full = await collect(lm.generate([tokens(PROMPT)]))
        short = await collect(lm.generate([tokens(PROMPT)], ["token"], {"max_tokens": 2}))
        meta = lm.metadata
        await repo.close()
        assert (meta.kind, meta.platform, meta.inputs[0].dims) == (
            "generate",
            "pytorch_torchscript",
            (-1,),
        )
        return [full, short]

    full, short = run(scenario())
    assert full == expected
    assert short == expected[:2]
    assert len(set(expected)) > 1  # a sequence, not one token repeated


def test_the_eos_token_ends_generation(tmp_path: Path) -> None:
    expected = greedy(fx.seeded(fx.TinyLM, seed=3), PROMPT, 6)
    eos = expected[2]
    lm_repo(tmp_path, f"max_tokens = 6\neos_token = {eos}")

    async def scenario() -> list[int]:
        repo = await loaded(tmp_path)
        got = await collect(repo.get("lm").generate([tokens(PROMPT)]))
        await repo.close()
        return got

    assert run(scenario()) == expected[: expected.index(eos) + 1]


@pytest.mark.parametrize(
    ("parameters", "inputs", "message"),
    [
        (
            {"temperature": 0.5},
            [tokens(PROMPT)],
            "model 'lm': unknown parameter(s) temperature; it takes max_tokens",
        ),
        (
            {"max_tokens": 0},
            [tokens(PROMPT)],
            "parameter 'max_tokens': 0, expected a whole number >= 1",
        ),
        (
            {"max_tokens": "3"},
            [tokens(PROMPT)],
            "parameter 'max_tokens': '3', expected a whole number >= 1",
        ),
        ({}, [tokens([])], "input 'tokens': at least one token id is needed"),
        (
            {},
            [InputTensor("tokens", "INT32", (1,), bytes(4))],
            "input 'tokens': datatype INT32, expected INT64",
        ),
    ],
)
def test_bad_generate_requests_are_invalid(
    tmp_path: Path, parameters: dict[str, Any], inputs: list[InputTensor], message: str
) -> None:
    lm_repo(tmp_path)

    async def scenario() -> InferenceError:
        repo = await loaded(tmp_path)
        try:
            await collect(repo.get("lm").generate(inputs, [], parameters))
        except InferenceError as exc:
            return exc
        finally:
            await repo.close()
        raise AssertionError("accepted")

    error = run(scenario())
    assert (error.code, error.message) == (grpc.StatusCode.INVALID_ARGUMENT, message)


def test_predict_and_generate_refuse_the_other_kind(tmp_path: Path) -> None:
    lm_repo(tmp_path)

    async def scenario() -> None:
        repo = await loaded(tmp_path)
        with pytest.raises(
            InferenceError, match="model 'lm' generates; call it with streaming predict"
        ):
            await repo.get("lm").predict([tokens(PROMPT)])
        await repo.close()

    run(scenario())


@pytest.mark.parametrize("stateful", [False, True])
def test_pieces_arrive_before_generation_ends_and_cancelling_stops_it(
    tmp_path: Path, stateful: bool
) -> None:
    tag = "lm-cancel"
    lm_repo(tmp_path, "max_tokens = 20", tag=tag, stateful=stateful)
    registry = CollectorRegistry()

    async def scenario() -> list[int]:
        repo = await loaded(tmp_path, registry)
        lm = repo.get("lm")
        stream = lm.generate([tokens(PROMPT)])
        got = []
        for _ in range(2):
            fx.STEPS[tag].release()  # one step allowed: one piece, while the model waits
            got.append(token_of(await anext(stream)))
        await stream.aclose()  # the caller goes away mid-stream
        for _ in range(40):
            fx.STEPS[tag].release()
        # Served after the cancelled one on the same (only) instance: it has ended.
        after = await collect(lm.generate([tokens(PROMPT)], [], {"max_tokens": 1}))
        await repo.close()
        return got + after

    got = run(scenario())
    assert len(got) == 3
    # Warm-up (1, or 2 when stateful), the cancelled stream (2 steps, or 3 if it was
    # already running its third when cancelled), the last request (1): nowhere near
    # the 20 asked for.
    warm_up = 2 if stateful else 1
    assert len(fx.CALLS[tag]) - warm_up in (3, 4)
    # The prompt, then one token a step (stateful) or the prefix grown by one.
    assert fx.CALLS[tag][warm_up : warm_up + 2] == [(1, 3), (1, 1) if stateful else (1, 4)]
    labels = {"model": "lm", "version": "1", "reason": "CANCELED"}
    assert registry.get_sample_value("inference_request_failure_total", labels) == 1


@pytest.mark.parametrize("stateful", [False, True])
def test_the_deadline_is_honoured_between_pieces(tmp_path: Path, stateful: bool) -> None:
    tag = "lm-deadline"
    lm_repo(tmp_path, "max_tokens = 20", tag=tag, stateful=stateful)

    async def scenario() -> tuple[list[int], InferenceError]:
        repo = await loaded(tmp_path)
        stream = repo.get("lm").generate([tokens(PROMPT)], deadline=time.monotonic() + 0.3)
        fx.STEPS[tag].release()
        got = [token_of(await anext(stream))]
        try:
            await anext(stream)  # the model is held: the deadline passes first
        except InferenceError as exc:
            error = exc
        else:
            raise AssertionError("no deadline")
        for _ in range(40):
            fx.STEPS[tag].release()
        await repo.close()
        return got, error

    got, error = run(scenario())
    assert len(got) == 1
    assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED
    # The held step ran once released; then the runner saw the stop, not 18 more.
    assert len(fx.CALLS[tag]) - (2 if stateful else 1) <= 3


def stateful_repo(root: Path, platform: str, cls: str, generate: str = "max_tokens = 6") -> None:
    """Model `lm` with `[generate] state = true` (unless `generate` says otherwise), the
    weights of TinyLM's seed in `platform`'s format, its class `inference_fixtures:cls`."""
    tag = {"tag": "lm-state"} if cls == "RecordingStatefulLM" else {}
    module = fx.seeded(getattr(fx, cls), seed=3, **tag)
    tables = f"[generate]\n{generate}\n"
    if "state =" not in generate:
        tables += "state = true\n"
    if platform == "state_dict":
        kwargs = "{ " + ", ".join(f'{k} = "{v}"' for k, v in tag.items()) + " }"
        tables += f'\n[state_dict]\nmodule = "inference_fixtures:{cls}"\nkwargs = {kwargs}\n'
    fx.write_model(
        root,
        "lm",
        platform,
        module,
        tensors=fx.LM_TENSORS,
        header='kind = "generate"\nmax_batch_size = 0',
        tables=tables,
    )


@pytest.mark.parametrize("platform", ["torchscript", "state_dict"])
def test_a_stateful_model_streams_the_tokens_of_the_whole_prefix(
    tmp_path: Path, platform: str
) -> None:
    expected = greedy(fx.seeded(fx.TinyLM, seed=3), PROMPT, 6)
    eos = expected[3]
    stateful_repo(tmp_path / "a", platform, "StatefulLM")
    stateful_repo(tmp_path / "b", platform, "StatefulLM", f"max_tokens = 6\neos_token = {eos}")

    async def scenario() -> list[list[int]]:
        got = []
        for root in (tmp_path / "a", tmp_path / "b"):
            repo = await loaded(root)
            lm = repo.get("lm")
            got.append(await collect(lm.generate([tokens(PROMPT)])))
            got.append(await collect(lm.generate([tokens(PROMPT)], [], {"max_tokens": 2})))
            await repo.close()
        return got

    full, short, to_eos, short_eos = run(scenario())
    assert full == expected
    assert short == short_eos == expected[:2]
    assert to_eos == expected[: expected.index(eos) + 1]


def test_each_step_after_the_first_gets_one_token_and_the_previous_state(tmp_path: Path) -> None:
    tag = "lm-state"
    fx.STATEFUL_STEPS.pop(tag, None)
    stateful_repo(tmp_path, "state_dict", "RecordingStatefulLM")

    async def scenario() -> tuple[list[int], int, int]:
        repo = await loaded(tmp_path)
        # Warm-up ran the first step and one stateful step, so both calls are checked.
        [(ids, given, returned), (next_ids, next_given, _)] = fx.STATEFUL_STEPS.pop(tag)
        assert (ids, given, len(next_ids), len(next_ids[0])) == ([[0]], None, 1, 1)
        assert next_given is returned
        got = await collect(repo.get("lm").generate([tokens(PROMPT)]))
        stats = repo.stats()[("lm", "1")]
        await repo.close()
        return got, stats.inference_count, stats.exec_count

    got, inferences, execs = run(scenario())
    assert got == greedy(fx.seeded(fx.TinyLM, seed=3), PROMPT, 6)
    steps = fx.STATEFUL_STEPS.pop(tag)
    assert len(steps) == inferences == execs == 6
    first_ids, first_state, _ = steps[0]
    assert (first_ids, first_state) == ([PROMPT], None)
    for i in range(1, len(steps)):
        ids, given, _ = steps[i]
        assert ids == [[got[i - 1]]]  # the token the step before chose, alone
        assert given is steps[i - 1][2]  # the very state the step before returned


@pytest.mark.parametrize(
    ("platform", "cls", "generate", "message"),
    [
        (
            "torchscript",
            "LogitsOnly",
            "max_tokens = 6",
            "returned a tensor of shape [1, 16], but {config} sets generate.state = true: "
            "forward(ids, state) must return (logits, new_state), the state a tensor or a "
            "tuple of tensors",
        ),
        (
            "state_dict",
            "LogitsOnly",
            "max_tokens = 6",
            "returned a tensor of shape [1, 16], but {config} sets generate.state = true: ",
        ),
        (
            "torchscript",
            "TinyLM",
            "max_tokens = 6",
            "forward takes 1 argument(s), but {config} sets generate.state = true: "
            "forward(ids, state) must return (logits, new_state)",
        ),
        (
            "state_dict",
            "TinyLM",
            "max_tokens = 6",
            "forward takes 1 argument(s), but {config} sets generate.state = true: ",
        ),
        (
            "torchscript",
            "StatefulLM",
            "state = false",
            "must return next-token logits of shape [1, vocab] (it returned a pair, as a "
            "stateful model does: set generate.state = true in {config})",
        ),
    ],
)
def test_a_model_breaking_the_state_protocol_fails_warm_up(
    tmp_path: Path, platform: str, cls: str, generate: str, message: str
) -> None:
    stateful_repo(tmp_path, platform, cls, generate)
    config = tmp_path / "lm" / "config.toml"

    async def scenario() -> None:
        repo = ModelRepository.load(tmp_path, device="cpu", registry=CollectorRegistry())
        with pytest.raises(RepositoryError) as failed:
            await repo.warm_up()
        assert str(failed.value).startswith(
            "model 'lm' version 1: warm-up failed: model 'lm' version 1 "
            + message.format(config=config)
        )
        assert not repo.ready

    run(scenario())
