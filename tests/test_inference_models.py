"""The inference runtime end to end on real torch models (tiny, seeded, built here and
saved to a throwaway repository in each platform's format): answers, batching under
concurrency, the bounded queue, deadlines and cancellation before the model, simulated
CUDA out-of-memory, validation and per-thread CPU settings. Every wait is bounded."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import struct
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import grpc
import inference_fixtures as fx
import pytest
import torch
from conftest import alive
from contracts_runtime.inference import (
    InferenceError,
    InputTensor,
    ModelRepository,
    RepositoryError,
)
from contracts_runtime.inference.config import load_configs
from prometheus_client import CollectorRegistry

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


def floats(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def x_input(*values: float) -> InputTensor:
    return InputTensor("x", "FP32", (1, len(values)), floats(*values))


def recording_repo(
    tmp_path: Path,
    tag: str,
    header: str = "",
    tables: str = "",
    inline: bool = False,
    options: str = "",
) -> Path:
    """The recording model; its forward passes stay in the runner threads unless
    `inline` (a gated pass on the event loop would hold the test's own loop; its
    variable dimension already keeps lone requests off the loop).
    `options`: more of its constructor's keyword arguments, as TOML (`oom_above = 2`)."""
    if not inline:
        off = "[batching]\ninline_below_us = 0\ninline_alone_below_us = 0\n"
        tables = (
            tables.replace("[batching]\n", off) if "[batching]" in tables else tables + "\n" + off
        )
    fx.CALLS.pop(tag, None)
    fx.THREADS.pop(tag, None)
    fx.gate(tag).set()
    module = fx.Recording(tag)
    fx.write_model(
        tmp_path,
        "rec",
        "state_dict",
        module,
        tensors=fx.RECORDING_TENSORS,
        header=header or "max_batch_size = 8",
        tables=f'[state_dict]\nmodule = "inference_fixtures:Recording"\n'
        f'kwargs = {{ tag = "{tag}"{", " + options if options else ""} }}\n' + tables,
    )
    return tmp_path


async def loaded(root: Path, registry: CollectorRegistry | None = None) -> ModelRepository:
    repo = ModelRepository.load(root, device="cpu", registry=registry or CollectorRegistry())
    await repo.warm_up()
    return repo


async def held(repo: ModelRepository, tag: str) -> asyncio.Task[Any]:
    """A first request inside the model, held at the closed gate."""
    calls = len(fx.CALLS.get(tag, []))
    fx.gate(tag).clear()
    first = asyncio.ensure_future(repo.get("rec").predict([x_input(100)]))
    await until(lambda: len(fx.CALLS.get(tag, [])) > calls)
    return first


def test_three_formats_answer_as_the_model_does(tmp_path: Path) -> None:
    model = fx.seeded(fx.TinyClassifier)
    header = "max_batch_size = 4"
    fx.write_model(
        tmp_path, "scripted", "torchscript", model, tensors=fx.CLASSIFIER_TENSORS, header=header
    )
    batch = torch.export.Dim("batch", min=1, max=4)
    fx.write_model(
        tmp_path,
        "exported",
        "torch_export",
        model,
        tensors=fx.CLASSIFIER_TENSORS,
        header=header,
        example=[torch.zeros(2, 3, 4, 4)],
        dynamic=[{0: batch}],
    )
    fx.write_model(
        tmp_path,
        "weights",
        "state_dict",
        model,
        tensors=fx.CLASSIFIER_TENSORS,
        header=header,
        tables='[state_dict]\nmodule = "inference_fixtures:TinyClassifier"\nkwargs = { classes = 3 }',
    )
    torch.manual_seed(1)
    images = torch.randn(2, 3, 4, 4)
    with torch.inference_mode():
        expected = model(images)
    image = InputTensor(
        "image", "FP32", (2, 3, 4, 4), struct.pack("<96f", *images.flatten().tolist())
    )

    async def scenario() -> dict[str, Any]:
        repo = await loaded(tmp_path)
        answers = {}
        for name in ("scripted", "exported", "weights"):
            outputs = await repo.get(name).predict([image], deadline=time.monotonic() + 30)
            answers[name] = (outputs, repo.get(name).metadata)
        await repo.close()
        return answers

    platforms = {
        "scripted": "pytorch_torchscript",
        "exported": "pytorch_export",
        "weights": "pytorch_state_dict",
    }
    for name, (outputs, metadata) in run(scenario()).items():
        logits, label = outputs
        assert (logits.name, logits.dtype, logits.shape) == ("logits", "FP32", (2, 3))
        got = torch.tensor(struct.unpack("<6f", logits.data)).reshape(2, 3)
        assert torch.allclose(got, expected["logits"], atol=1e-5), name
        assert (label.dtype, label.shape) == ("INT64", (2,))
        assert list(struct.unpack("<2q", label.data)) == expected["label"].tolist()
        assert metadata.platform == platforms[name]
        assert metadata.device == "cpu"
        assert [(s.name, s.dims) for s in metadata.inputs] == [("image", (-1, 3, 4, 4))]
        assert [(s.name, s.dims) for s in metadata.outputs] == [
            ("logits", (-1, 3)),
            ("label", (-1,)),
        ]


def write_isolated(root: Path, name: str, module: str, tensors: str, header: str) -> None:
    """A state-dict model whose instance runs in a model process."""
    cls = getattr(fx, module)
    kwargs = "{ classes = 3 }" if module == "TinyClassifier" else "{}"
    fx.write_model(
        root,
        name,
        "state_dict",
        fx.seeded(cls) if module == "TinyClassifier" else cls(),
        tensors=tensors,
        header=header,
        tables=f'[state_dict]\nmodule = "inference_fixtures:{module}"\nkwargs = {kwargs}\n'
        '[instances]\nisolation = "process"\ncpu_threads = 1\n',
    )


def test_a_model_process_answers_as_the_serving_process_does(tmp_path: Path) -> None:
    """The same weights in the serving process and in a model process of their own:
    the same answers, batched (fewer passes than concurrent requests), and closing
    the repository stops the child."""
    header = "max_batch_size = 8"
    fx.write_model(
        tmp_path,
        "inside",
        "state_dict",
        fx.seeded(fx.TinyClassifier),
        tensors=fx.CLASSIFIER_TENSORS,
        header=header,
        tables='[state_dict]\nmodule = "inference_fixtures:TinyClassifier"\nkwargs = { classes = 3 }',
    )
    write_isolated(tmp_path, "isolated", "TinyClassifier", fx.CLASSIFIER_TENSORS, header)
    torch.manual_seed(2)
    images = [torch.randn(1, 3, 4, 4) for _ in range(6)]
    inputs = [
        InputTensor("image", "FP32", (1, 3, 4, 4), struct.pack("<48f", *i.flatten().tolist()))
        for i in images
    ]

    async def scenario() -> tuple[list[Any], list[Any], Any, list[int]]:
        repo = await loaded(tmp_path)
        isolated = repo.get("isolated")
        children = [
            p.pid
            for p in multiprocessing.active_children()
            if p.name == "model-isolated-1" and p.pid is not None
        ]
        assert len(children) == 1 and alive(children[0])
        inside = await asyncio.gather(*(repo.get("inside").predict([i]) for i in inputs))
        apart = await asyncio.gather(*(isolated.predict([i]) for i in inputs))
        stats = isolated.stats()
        await repo.close()
        return inside, apart, stats, children

    inside, apart, stats, children = run(scenario())
    for mine, theirs in zip(inside, apart, strict=True):
        assert [(o.name, o.shape) for o in mine] == [(o.name, o.shape) for o in theirs]
        # Batches formed apart differ in size, so the sums may differ in the last bit.
        logits = [torch.tensor(struct.unpack("<3f", o[0].data)) for o in (mine, theirs)]
        assert torch.allclose(*logits, rtol=1e-5, atol=1e-6)
        assert mine[1].data == theirs[1].data
    assert stats.inference_count == 6 and stats.exec_count < 6  # batched across the pipe
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in children)


def test_a_model_process_that_dies_fails_its_batch_and_starts_again(tmp_path: Path) -> None:
    """Dead during a batch: that batch fails, named, and the next starts a new child.
    Dead between batches (killed): the next batch starts a new child and is answered.
    A child that cannot start again: UNAVAILABLE naming why."""
    write_isolated(
        tmp_path, "fragile", "ExitOnNegative", fx.RECORDING_TENSORS, "max_batch_size = 4"
    )

    async def pid_of(model: Any) -> int:
        [answer] = await model.predict([x_input(1234)])
        return int(struct.unpack("<f", answer.data)[0])

    async def scenario() -> tuple[list[int], InferenceError, list[float], InferenceError]:
        repo = await loaded(tmp_path)
        model = repo.get("fragile")
        pids = [await pid_of(model)]
        with pytest.raises(InferenceError) as died:
            await model.predict([x_input(-1)])
        [answer] = await model.predict([x_input(1, 2)])
        pids.append(await pid_of(model))
        os.kill(pids[-1], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(pids[-1]) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        pids.append(await pid_of(model))
        # Weights gone, then the child: it cannot load them again.
        (tmp_path / "fragile" / "1" / "weights.pt").unlink()
        os.kill(pids[-1], signal.SIGKILL)
        while alive(pids[-1]) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        with pytest.raises(InferenceError) as unstartable:
            await model.predict([x_input(1)])
        await repo.close()
        return pids, died.value, list(struct.unpack("<2f", answer.data)), unstartable.value

    pids, died, answer, unstartable = run(scenario())
    assert died.code == grpc.StatusCode.INTERNAL
    assert died.message == (
        "model 'fragile' version 1: its process exited with code 3 while running a batch of 1"
    )
    assert answer == [3.0, 5.0]
    assert len(set(pids)) == 3 and not any(alive(pid) for pid in pids)
    assert unstartable.code == grpc.StatusCode.UNAVAILABLE
    assert unstartable.message == (
        "model 'fragile' version 1: cannot start its process: "
        f"{tmp_path}/fragile/1/weights.pt: weights file missing (platform 'state_dict' "
        "reads weights.pt from each version folder)"
    )


def test_a_model_process_that_cannot_load_fails_start_up_naming_the_file(tmp_path: Path) -> None:
    write_isolated(
        tmp_path, "broken", "TinyClassifier", fx.CLASSIFIER_TENSORS, "max_batch_size = 4"
    )
    config = tmp_path / "broken" / "config.toml"
    config.write_text(config.read_text().replace("classes = 3", "classes = 5"))

    async def scenario() -> None:
        repo = ModelRepository.load(tmp_path, device="cpu", registry=CollectorRegistry())
        await repo.warm_up()

    with pytest.raises(RepositoryError) as refused:
        run(scenario())
    message = str(refused.value)
    assert message.startswith(
        "model 'broken' version 1: warm-up failed: "
        f"{tmp_path}/broken/1/weights.pt: does not fit inference_fixtures:TinyClassifier"
    ), message


def test_a_model_process_not_ready_in_time_is_killed_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At start-up or when started again after a death: the instance kills it itself."""
    from contracts_runtime.inference import model_process

    write_isolated(tmp_path, "slow", "TinyClassifier", fx.CLASSIFIER_TENSORS, "max_batch_size = 4")
    [config] = load_configs(tmp_path)
    # Spawning an interpreter and importing torch alone takes longer than this.
    monkeypatch.setattr(model_process, "START_TIMEOUT_S", 0.05)
    instance = model_process.ModelProcess(config, "1", "cpu")
    with pytest.raises(RepositoryError) as refused:
        instance.init_thread()
    # The instance says what happened; the repository (or the batch) names the model.
    assert str(refused.value) == "its process was not ready after 0.05 s"
    assert not [p for p in multiprocessing.active_children() if p.name == "model-slow-1"]


def test_output_names_pick_outputs(tmp_path: Path) -> None:
    model = fx.seeded(fx.TinyClassifier)
    fx.write_model(
        tmp_path,
        "c",
        "torchscript",
        model,
        tensors=fx.CLASSIFIER_TENSORS,
        header="max_batch_size = 2",
    )
    image = InputTensor("image", "FP32", (1, 3, 4, 4), bytes(4 * 48))

    async def scenario() -> list[str]:
        repo = await loaded(tmp_path)
        outputs = await repo.get("c").predict([image], ["label"])
        await repo.close()
        return [o.name for o in outputs]

    assert run(scenario()) == ["label"]


def test_concurrent_requests_share_forward_passes(tmp_path: Path) -> None:
    tag = "share"
    recording_repo(tmp_path, tag)
    registry = CollectorRegistry()

    async def scenario() -> list[Any]:
        repo = await loaded(tmp_path, registry)
        first = await held(repo, tag)
        model = repo.get("rec")
        rest = [asyncio.ensure_future(model.predict([x_input(i, i)])) for i in range(6)]
        await until(lambda: model.stats().queued == 6)
        fx.gate(tag).set()
        results = await asyncio.gather(first, *rest)
        stats = model.stats()
        await repo.close()
        return [results, stats]

    results, stats = run(scenario())
    assert struct.unpack("<2f", results[3][0].data) == (5.0, 5.0)  # 2 * 2 + 1
    # Warm-up, the held request, then the six queued ones in one pass.
    assert fx.CALLS[tag] == [(1, 1), (1, 1), (6, 2)]
    assert (stats.inference_count, stats.exec_count, stats.success) == (7, 2, 7)
    assert stats.exec_count < stats.inference_count
    labels = {"model": "rec", "version": "1"}
    assert registry.get_sample_value("inference_count_total", labels) == 7
    assert registry.get_sample_value("inference_exec_count_total", labels) == 2
    assert registry.get_sample_value("inference_request_success_total", labels) == 7
    assert registry.get_sample_value("inference_queue_duration_us_total", labels) > 0
    assert registry.get_sample_value("inference_compute_infer_duration_us_total", labels) > 0


def test_a_lone_request_runs_at_once_as_a_batch_of_one(tmp_path: Path) -> None:
    tag = "lone"
    recording_repo(tmp_path, tag)

    async def scenario() -> Any:
        repo = await loaded(tmp_path)
        outputs = await repo.get("rec").predict([x_input(1, 2, 3)])
        stats = repo.get("rec").stats()
        await repo.close()
        return outputs, stats

    outputs, stats = run(scenario())
    assert struct.unpack("<3f", outputs[0].data) == (3.0, 5.0, 7.0)
    # max_queue_delay_us = 0: it did not wait for company.
    assert fx.CALLS[tag][1:] == [(1, 3)]
    assert (stats.inference_count, stats.exec_count) == (1, 1)
    # Warm-up and request ran in the instance's runner thread, not on the event loop.
    assert fx.THREAD_NAMES[tag] == ["infer-rec:1-0", "infer-rec:1-0"]


def test_shapes_of_variable_dimensions_are_never_stacked(tmp_path: Path) -> None:
    tag = "shapes"
    recording_repo(tmp_path, tag)

    async def scenario() -> list[Any]:
        repo = await loaded(tmp_path)
        first = await held(repo, tag)
        model = repo.get("rec")
        lengths = [2, 3, 2, 3, 2]
        rest = [asyncio.ensure_future(model.predict([x_input(*range(n))])) for n in lengths]
        await until(lambda: model.stats().queued == 5)
        fx.gate(tag).set()
        results = await asyncio.gather(first, *rest)
        await repo.close()
        return results

    results = run(scenario())
    assert [r[0].shape for r in results[1:]] == [(1, 2), (1, 3), (1, 2), (1, 3), (1, 2)]
    assert fx.CALLS[tag][2:] == [(3, 2), (2, 3)]


def test_a_full_queue_is_resource_exhausted_at_once(tmp_path: Path) -> None:
    tag = "full"
    recording_repo(tmp_path, tag, tables="[batching]\nqueue_size = 2")
    registry = CollectorRegistry()

    async def scenario() -> None:
        repo = await loaded(tmp_path, registry)
        first = await held(repo, tag)
        model = repo.get("rec")
        waiting = [asyncio.ensure_future(model.predict([x_input(i)])) for i in range(2)]
        await until(lambda: model.stats().queued == 2)
        with pytest.raises(InferenceError) as refused:
            await model.predict([x_input(9)])
        assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        fx.gate(tag).set()
        await asyncio.gather(first, *waiting)
        await repo.close()

    run(scenario())
    labels = {"model": "rec", "version": "1", "reason": "REJECTED"}
    assert registry.get_sample_value("inference_request_failure_total", labels) == 1


def test_an_expired_deadline_never_reaches_the_model(tmp_path: Path) -> None:
    tag = "deadline"
    recording_repo(tmp_path, tag)
    registry = CollectorRegistry()

    async def scenario() -> None:
        repo = await loaded(tmp_path, registry)
        model = repo.get("rec")
        with pytest.raises(InferenceError) as late:
            await model.predict([x_input(1)], deadline=time.monotonic() - 0.001)
        assert late.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        first = await held(repo, tag)
        with pytest.raises(InferenceError) as expired:
            await model.predict([x_input(2, 2)], deadline=time.monotonic() + 0.05)
        assert expired.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        fx.gate(tag).set()
        await first
        # The model is free again: a later request is answered.
        await model.predict([x_input(3, 3, 3)])
        await repo.close()

    run(scenario())
    # Warm-up, the held request and the last one: neither expired request ran.
    assert fx.CALLS[tag] == [(1, 1), (1, 1), (1, 3)]
    labels = {"model": "rec", "version": "1"}
    assert registry.get_sample_value("inference_count_total", labels) == 2
    assert (
        registry.get_sample_value(
            "inference_request_failure_total", {**labels, "reason": "DEADLINE"}
        )
        == 2
    )


def test_a_cancelled_request_is_dropped(tmp_path: Path) -> None:
    tag = "cancel"
    recording_repo(tmp_path, tag)
    registry = CollectorRegistry()

    async def scenario() -> None:
        repo = await loaded(tmp_path, registry)
        first = await held(repo, tag)
        model = repo.get("rec")
        doomed = asyncio.ensure_future(model.predict([x_input(5, 5)]))
        await until(lambda: model.stats().queued == 1)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        fx.gate(tag).set()
        await first
        await repo.close()

    run(scenario())
    assert fx.CALLS[tag] == [(1, 1), (1, 1)]
    labels = {"model": "rec", "version": "1"}
    assert (
        registry.get_sample_value(
            "inference_request_failure_total", {**labels, "reason": "CANCELED"}
        )
        == 1
    )
    assert registry.get_sample_value("inference_count_total", labels) == 1


@pytest.mark.parametrize("split", [False, True])
def test_out_of_memory_fails_the_batch_and_the_server_goes_on(tmp_path: Path, split: bool) -> None:
    tag = f"oom-{split}"
    tables = f"[batching]\nsplit_on_oom = {str(split).lower()}\n"
    recording_repo(tmp_path, tag, tables=tables, options="oom_above = 2")
    registry = CollectorRegistry()

    async def scenario() -> list[Any]:
        repo = await loaded(tmp_path, registry)
        first = await held(repo, tag)
        model = repo.get("rec")
        four = [asyncio.ensure_future(model.predict([x_input(i)])) for i in range(4)]
        await until(lambda: model.stats().queued == 4)
        fx.gate(tag).set()
        outcomes = await asyncio.gather(*four, return_exceptions=True)
        await first
        after = await model.predict([x_input(7)])
        await repo.close()
        return [outcomes, after]

    outcomes, after = run(scenario())
    assert struct.unpack("<f", after[0].data) == (15.0,)
    if split:
        assert [struct.unpack("<f", o[0].data) for o in outcomes] == [
            (1.0,),
            (3.0,),
            (5.0,),
            (7.0,),
        ]
        assert fx.CALLS[tag][2:] == [(4, 1), (2, 1), (2, 1), (1, 1)]
    else:
        for outcome in outcomes:
            assert isinstance(outcome, InferenceError)
            assert outcome.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "out of memory on cpu running a batch of 4" in outcome.message
        labels = {"model": "rec", "version": "1", "reason": "BACKEND"}
        assert registry.get_sample_value("inference_request_failure_total", labels) == 4


@pytest.mark.parametrize(
    ("tensors", "outputs", "message"),
    [
        (
            [InputTensor("x", "FP64", (1, 2), bytes(16))],
            [],
            "input 'x': datatype FP64, expected FP32",
        ),
        (
            [InputTensor("x", "FP32", (2,), bytes(8))],
            [],
            "input 'x': shape [2], expected [-1, -1] (-1: any size)",
        ),
        (
            [InputTensor("x", "FP32", (1, 2), bytes(7))],
            [],
            "input 'x': 7 bytes of data, expected 8 (shape [1, 2] x 4 bytes per FP32)",
        ),
        (
            [InputTensor("x", "FP32", (9, 1), bytes(36))],
            [],
            "input 'x': batch size 9, expected 1 to 8",
        ),
        ([InputTensor("x", "FP32", (0, 1), b"")], [], "input 'x': batch size 0, expected 1 to 8"),
        (
            [x_input(1), InputTensor("z", "FP32", (1,), bytes(4))],
            [],
            "model 'rec' has no input 'z'; its inputs are x",
        ),
        ([], [], "model 'rec' needs input(s) 'x'"),
        ([x_input(1)], ["logits"], "model 'rec' has no output 'logits'; its outputs are y"),
    ],
)
def test_invalid_requests_name_the_tensor(
    tmp_path: Path, tensors: list[InputTensor], outputs: list[str], message: str
) -> None:
    tag = "invalid"
    recording_repo(tmp_path, tag)

    async def scenario() -> InferenceError:
        repo = await loaded(tmp_path)
        try:
            await repo.get("rec").predict(tensors, outputs)
        except InferenceError as exc:
            return exc
        finally:
            await repo.close()
        raise AssertionError("accepted")

    error = run(scenario())
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.message == message
    assert fx.CALLS[tag] == [(1, 1)]  # only the warm-up


def test_an_unbatched_model_takes_inputs_without_a_batch_dimension(tmp_path: Path) -> None:
    tag = "unbatched"
    recording_repo(tmp_path, tag, header="max_batch_size = 0")

    async def scenario() -> Any:
        repo = await loaded(tmp_path)
        model = repo.get("rec")
        outputs = await asyncio.gather(
            *(model.predict([InputTensor("x", "FP32", (2,), floats(i, i))]) for i in range(3))
        )
        with pytest.raises(InferenceError, match=r"shape \[1, 2\], expected \[-1\]"):
            await model.predict([x_input(1, 1)])
        meta = model.metadata
        await repo.close()
        return outputs, meta

    outputs, meta = run(scenario())
    assert [o[0].shape for o in outputs] == [(2,)] * 3
    assert fx.CALLS[tag] == [(1,), (2,), (2,), (2,)]
    assert meta.inputs[0].dims == (-1,)


def test_cpu_threads_are_set_in_each_runner_thread(tmp_path: Path) -> None:
    tag = "threads"
    recording_repo(tmp_path, tag, tables="[instances]\ncount = 2\ncpu_threads = 1")
    main_threads = torch.get_num_threads()

    async def scenario() -> None:
        repo = await loaded(tmp_path)
        await repo.get("rec").predict([x_input(1)])
        await repo.close()

    run(scenario())
    # Each instance's warm-up and the request ran with the instance's setting; the
    # main thread's own setting is untouched.
    assert fx.THREADS[tag] == [1, 1, 1]
    assert torch.get_num_threads() == main_threads


def test_an_inline_pass_runs_with_the_instances_cpu_threads(tmp_path: Path) -> None:
    tag = "inline-threads"
    fx.THREAD_NAMES.pop(tag, None)
    tables = "[batching]\ninline_below_us = 10000000\n\n[instances]\ncpu_threads = 1"
    recording_repo(tmp_path, tag, tables=tables, inline=True)
    main_threads = torch.get_num_threads()
    torch.set_num_threads(2)

    async def scenario() -> None:
        repo = await loaded(tmp_path)
        # The first lone request times the model in the runner thread; the second,
        # quick enough, runs inline on the event loop's thread.
        for _ in range(2):
            await repo.get("rec").predict([x_input(1)])
        await repo.close()

    try:
        run(scenario())
        assert fx.THREAD_NAMES[tag] == ["infer-rec:1-0", "infer-rec:1-0", "MainThread"]
        # Not the loop thread's 2, which would fan a lone pass out to every core.
        assert fx.THREADS[tag] == [1, 1, 1]
    finally:
        torch.set_num_threads(main_threads)


def test_a_lone_request_runs_on_the_loop_unless_a_dimension_varies(tmp_path: Path) -> None:
    """Only the lone-request rule here (the tiny-model one is off): once timed, a lone
    request to a fixed-shape model runs on the event loop's thread; one to a model with
    a variable dimension stays in its runner thread, as its next input may be long."""
    tag = "alone"
    fx.THREAD_NAMES.pop(tag, None)
    fx.THREAD_NAMES.pop(f"{tag}-varying", None)
    fx.gate(tag).set()
    fx.gate(f"{tag}-varying").set()
    for name, dims in (("fixed", [2]), ("varying", [-1])):
        model_tag = tag if name == "fixed" else f"{tag}-varying"
        fx.write_model(
            tmp_path,
            name,
            "state_dict",
            fx.Recording(model_tag),
            tensors=fx.tensor_table("inputs", "x", "FP32", dims)
            + fx.tensor_table("outputs", "y", "FP32", dims),
            header="max_batch_size = 8",
            tables='[state_dict]\nmodule = "inference_fixtures:Recording"\n'
            f'kwargs = {{ tag = "{model_tag}" }}\n[batching]\ninline_below_us = 0\n',
        )

    async def scenario() -> list[list[float]]:
        repo = await loaded(tmp_path)
        answers = []
        for name in ("fixed", "varying"):
            for _ in range(2):
                # Well past the last answer: nothing about it says a call was waiting.
                await asyncio.sleep(0.01)
                [y] = await repo.get(name).predict([x_input(1, 2)])
                answers.append(list(struct.unpack("<2f", y.data)))
        await repo.close()
        return answers

    assert run(scenario()) == [[3.0, 5.0]] * 4
    # The warm-up pass, the first (timing) request, then the loop's thread.
    assert fx.THREAD_NAMES[tag] == ["infer-fixed:1-0", "infer-fixed:1-0", "MainThread"]
    assert fx.THREAD_NAMES[f"{tag}-varying"] == ["infer-varying:1-0"] * 3


def test_lookups_name_what_is_missing(tmp_path: Path) -> None:
    recording_repo(tmp_path, "lookup")

    async def scenario() -> None:
        repo = ModelRepository.load(tmp_path, device="cpu", registry=CollectorRegistry())
        with pytest.raises(InferenceError) as unready:
            repo.get("rec")
        assert unready.value.code == grpc.StatusCode.UNAVAILABLE
        assert not repo.find("rec").ready
        await repo.warm_up()
        assert repo.ready
        assert repo.get("rec", "1").version == "1"
        for name, version, message in [
            ("nope", "", "unknown model 'nope'; models: rec"),
            ("rec", "2", "model 'rec' has no version '2'; versions: 1"),
        ]:
            with pytest.raises(InferenceError) as missing:
                repo.get(name, version)
            assert (missing.value.code, missing.value.message) == (
                grpc.StatusCode.NOT_FOUND,
                message,
            )
        await repo.close()

    run(scenario())


def test_a_model_disagreeing_with_its_config_fails_warm_up(tmp_path: Path) -> None:
    model = fx.seeded(fx.TinyClassifier)
    tensors = fx.CLASSIFIER_TENSORS.replace('dtype = "INT64"', 'dtype = "INT32"')
    fx.write_model(
        tmp_path, "c", "torchscript", model, tensors=tensors, header="max_batch_size = 2"
    )

    async def scenario() -> None:
        repo = ModelRepository.load(tmp_path, device="cpu", registry=CollectorRegistry())
        with pytest.raises(RepositoryError) as failed:
            await repo.warm_up()
        assert str(failed.value) == (
            "model 'c' version 1: warm-up failed: model 'c' version 1 output 'label' is "
            "torch.int64, config says INT32"
        )
        assert not repo.ready

    run(scenario())


def test_bool_elements_are_bytes_0_or_1() -> None:
    from contracts_runtime.inference import TensorSpec
    from contracts_runtime.inference.tensors import validate_inputs

    spec = [TensorSpec("mask", "BOOL", (3,))]
    ordered, batch = validate_inputs(
        "m", spec, [InputTensor("mask", "BOOL", (1, 3), b"\x00\x01\x01")], 4
    )
    assert (len(ordered), batch) == (1, 1)
    with pytest.raises(
        InferenceError, match="input 'mask': BOOL elements must be bytes 0x00 or 0x01"
    ):
        validate_inputs("m", spec, [InputTensor("mask", "BOOL", (1, 3), b"\x00\x02\x01")], 4)


def test_a_failing_model_is_internal_and_the_server_goes_on(tmp_path: Path) -> None:
    tag = "fails"
    recording_repo(tmp_path, tag, options="fail_on_negative = true")
    registry = CollectorRegistry()

    async def scenario() -> tuple[InferenceError, Any]:
        repo = await loaded(tmp_path, registry)
        model = repo.get("rec")
        with pytest.raises(InferenceError) as failed:
            await model.predict([x_input(-1)])
        after = await model.predict([x_input(1)])
        await repo.close()
        return failed.value, after

    error, after = run(scenario())
    assert error.code == grpc.StatusCode.INTERNAL
    assert error.message == "model 'rec' version 1 failed: ValueError: negative input"
    assert struct.unpack("<f", after[0].data) == (3.0,)
    labels = {"model": "rec", "version": "1", "reason": "BACKEND"}
    assert registry.get_sample_value("inference_request_failure_total", labels) == 1


def test_the_per_model_input_check_agrees_with_validate_inputs() -> None:
    from contracts_runtime.inference import TensorSpec
    from contracts_runtime.inference.tensors import InputCheck, validate_inputs

    specs = [TensorSpec("a", "FP32", (2,)), TensorSpec("b", "INT64", (1,))]
    check = InputCheck("m", specs, 4)

    def a(batch: int, size: int = 8) -> InputTensor:
        return InputTensor("a", "FP32", (batch, 2), bytes(size * batch))

    def b(batch: int, size: int = 8) -> InputTensor:
        return InputTensor("b", "INT64", (batch, 1), bytes(size * batch))

    cases = [
        [a(1), b(1)],
        [a(3), b(3)],
        [b(2), a(2)],  # another order: the full check takes it
        [a(2), b(3)],  # batch sizes differ
        [a(5), b(5)],  # over the maximum batch
        [a(1, 4), b(1)],  # too few bytes
        [InputTensor("a", "FP16", (1, 2), bytes(4)), b(1)],
        [InputTensor("a", "FP32", (1, 3), bytes(12)), b(1)],
        [a(1)],
    ]
    for inputs in cases:
        try:
            expected: object = validate_inputs("m", specs, inputs, 4)
        except InferenceError as exc:
            expected = exc.message
        try:
            got: object = check(inputs)
        except InferenceError as exc:
            got = exc.message
        assert got == expected, inputs
