"""The dynamic batcher on its own (torch-free): batches of opaque items through a fake
model whose every call is recorded, gated by events so each scenario is deterministic.
Every wait is bounded."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import grpc
import pytest
from contracts_runtime.inference import Batcher, BatchPolicy, InferenceError, QueueFullError
from contracts_runtime.inference.batcher import Queued, Traffic

T = TypeVar("T")
BOUND_S = 10.0


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 30))


class FakeModel:
    """Doubles each item; records every batch (and the thread it ran in). Closing
    `gate` holds the next call until it opens again; `started` is set on each call."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()

    def __call__(self, instance: int, batch: list[Queued[int, int]]) -> list[int]:
        self.threads.add(threading.current_thread().name)
        self.batches.append([q.item for q in batch])
        self.started.set()
        assert self.gate.wait(BOUND_S), "test gate never opened"
        return [q.item * 2 for q in batch]


async def until(condition: Callable[[], bool]) -> None:
    """Poll (bounded) for a condition another thread makes true."""
    for _ in range(int(BOUND_S / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


async def started(batcher: Batcher[int, int]) -> Batcher[int, int]:
    await batcher.start()
    return batcher


async def hold_first(model: FakeModel, batcher: Batcher[int, int]) -> asyncio.Task[int]:
    """One item running in the model, held there by the closed gate."""
    model.gate.clear()
    model.started.clear()
    first = asyncio.ensure_future(batcher.submit(100))
    await until(model.started.is_set)
    return first


def test_a_lone_item_runs_at_once_as_a_batch_of_one() -> None:
    model = FakeModel()

    async def scenario() -> None:
        batcher = await started(
            Batcher("m", BatchPolicy(inline_below_s=0, max_batch_size=8), model)
        )
        assert await batcher.submit(21) == 42
        await batcher.close()

    run(scenario())
    # Greedy: no other item was waited for.
    assert model.batches == [[21]]


def test_concurrent_items_form_batches() -> None:
    model = FakeModel()

    async def scenario() -> list[int]:
        batcher = await started(
            Batcher("m", BatchPolicy(inline_below_s=0, max_batch_size=4), model)
        )
        first = await hold_first(model, batcher)
        rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(6)]
        await until(lambda: batcher.queued == 6)
        model.gate.set()
        results = await asyncio.gather(first, *rest)
        await batcher.close()
        return results

    assert run(scenario()) == [200, 0, 2, 4, 6, 8, 10]
    # The six queued items ran as 4 + 2, not one by one.
    assert model.batches == [[100], [0, 1, 2, 3], [4, 5]]


def test_sizes_add_up_to_the_max_batch_size() -> None:
    model = FakeModel()

    async def scenario() -> None:
        batcher = await started(
            Batcher("m", BatchPolicy(inline_below_s=0, max_batch_size=4), model)
        )
        first = await hold_first(model, batcher)
        rest = [asyncio.ensure_future(batcher.submit(i, size=3)) for i in range(2)]
        await until(lambda: batcher.queued == 2)
        model.gate.set()
        await asyncio.gather(first, *rest)
        await batcher.close()

    run(scenario())
    assert model.batches == [[100], [0], [1]]


def test_items_with_different_keys_never_share_a_batch() -> None:
    model = FakeModel()

    async def scenario() -> None:
        batcher = await started(
            Batcher("m", BatchPolicy(inline_below_s=0, max_batch_size=8), model)
        )
        first = await hold_first(model, batcher)
        keys = [(3,), (5,), (3,), (5,), (3,)]
        rest = [asyncio.ensure_future(batcher.submit(i, key=k)) for i, k in enumerate(keys)]
        await until(lambda: batcher.queued == 5)
        model.gate.set()
        await asyncio.gather(first, *rest)
        await batcher.close()

    run(scenario())
    assert model.batches == [[100], [0, 2, 4], [1, 3]]


def test_preferred_sizes_cut_a_batch() -> None:
    model = FakeModel()

    async def scenario() -> None:
        policy = BatchPolicy(inline_below_s=0, max_batch_size=8, preferred_batch_sizes=(2, 4))
        batcher = await started(Batcher("m", policy, model))
        first = await hold_first(model, batcher)
        rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(7)]
        await until(lambda: batcher.queued == 7)
        model.gate.set()
        await asyncio.gather(first, *rest)
        await batcher.close()

    run(scenario())
    # 7 waiting: the largest preferred size (4), then 3 -> 2, then the last one alone.
    assert model.batches == [[100], [0, 1, 2, 3], [4, 5], [6]]


def test_a_queue_delay_gathers_a_full_batch() -> None:
    """With a (long) delay, a batch waits for company and runs once full, well before
    the delay, which is not waited for."""
    model = FakeModel()

    async def scenario() -> None:
        policy = BatchPolicy(inline_below_s=0, max_batch_size=3, max_queue_delay_s=600)
        batcher = await started(Batcher("m", policy, model))
        one = asyncio.ensure_future(batcher.submit(1))
        await until(lambda: batcher.queued == 1)
        assert not one.done()  # waiting for more
        two = asyncio.ensure_future(batcher.submit(2))
        three = asyncio.ensure_future(batcher.submit(3))
        assert await asyncio.gather(one, two, three) == [2, 4, 6]
        await batcher.close()

    run(scenario())
    assert model.batches == [[1, 2, 3]]


def test_a_full_queue_refuses_at_once() -> None:
    model = FakeModel()

    async def scenario() -> None:
        batcher = await started(
            Batcher("m", BatchPolicy(inline_below_s=0, max_batch_size=1, queue_size=2), model)
        )
        first = await hold_first(model, batcher)
        queued = [asyncio.ensure_future(batcher.submit(i)) for i in range(2)]
        await until(lambda: batcher.queued == 2)
        with pytest.raises(QueueFullError) as refused:
            await batcher.submit(9)
        assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "queue full (2 requests waiting)" in refused.value.message
        model.gate.set()
        assert await asyncio.gather(first, *queued) == [200, 0, 2]
        await batcher.close()

    run(scenario())
    assert [9] not in model.batches


def test_a_passed_deadline_never_reaches_the_model() -> None:
    model = FakeModel()

    async def scenario() -> None:
        batcher = await started(
            Batcher("m", BatchPolicy(inline_below_s=0, max_batch_size=4), model)
        )
        with pytest.raises(InferenceError) as late:
            await batcher.submit(1, deadline=time.monotonic() - 1)
        assert late.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        first = await hold_first(model, batcher)
        with pytest.raises(InferenceError) as expired:
            await batcher.submit(2, deadline=time.monotonic() + 0.05)
        assert expired.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert batcher.queued == 0  # left the queue with its caller
        model.gate.set()
        assert await first == 200
        await batcher.close()

    run(scenario())
    assert model.batches == [[100]]


def test_an_item_expiring_in_the_queue_is_dropped_by_the_runner() -> None:
    """The runner side of the rule: an item whose deadline passed while it waited is
    dropped when the next batch forms, even if its caller has not noticed yet."""
    model = FakeModel()

    async def scenario() -> None:
        batcher = await started(
            Batcher("m", BatchPolicy(inline_below_s=0, max_batch_size=4), model)
        )
        first = await hold_first(model, batcher)
        loop = asyncio.get_running_loop()
        # Queued by hand with a passed deadline, as if the caller's timer had not fired.
        future: asyncio.Future[int] = loop.create_future()
        stale = Queued(7, 1, None, time.monotonic() - 1, time.monotonic(), future, loop)
        with batcher._cond:
            batcher._queue.append(stale)
        fresh = asyncio.ensure_future(batcher.submit(8))
        model.gate.set()
        with pytest.raises(InferenceError) as dropped:
            await future
        assert dropped.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert await asyncio.gather(first, fresh) == [200, 16]
        await batcher.close()

    run(scenario())
    assert model.batches == [[100], [8]]


def test_a_cancelled_caller_is_dropped_before_the_model() -> None:
    model = FakeModel()

    async def scenario() -> None:
        batcher = await started(
            Batcher("m", BatchPolicy(inline_below_s=0, max_batch_size=4), model)
        )
        first = await hold_first(model, batcher)
        doomed = asyncio.ensure_future(batcher.submit(5))
        kept = asyncio.ensure_future(batcher.submit(6))
        await until(lambda: batcher.queued == 2)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        assert batcher.queued == 1
        model.gate.set()
        assert await asyncio.gather(first, kept) == [200, 12]
        await batcher.close()

    run(scenario())
    assert model.batches == [[100], [6]]


def test_the_queue_depth_is_reported_on_every_change() -> None:
    """What the pending-requests gauge hears: arrivals, a batch taken, a cancelled caller."""
    model = FakeModel()
    depths: list[int] = []

    async def scenario() -> None:
        policy = BatchPolicy(inline_below_s=0, max_batch_size=2)
        batcher = await started(Batcher("m", policy, model, on_depth=depths.append))
        first = await hold_first(model, batcher)
        doomed = asyncio.ensure_future(batcher.submit(5))
        kept = [asyncio.ensure_future(batcher.submit(i)) for i in (6, 7)]
        await until(lambda: batcher.queued == 3)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        model.gate.set()
        assert await asyncio.gather(first, *kept) == [200, 12, 14]
        await batcher.close()

    run(scenario())
    assert depths == [1, 0, 1, 2, 3, 2, 0]


def test_instances_are_threads_running_side_by_side() -> None:
    barrier = threading.Barrier(2, timeout=BOUND_S)
    names: set[str] = set()

    def execute(instance: int, batch: list[Queued[int, int]]) -> list[int]:
        names.add(threading.current_thread().name)
        barrier.wait()  # both instances inside the model at once, or this times out
        return [q.item for q in batch]

    async def scenario() -> None:
        batcher: Batcher[int, int] = Batcher(
            "m", BatchPolicy(inline_below_s=0, instances=2), execute
        )
        await batcher.start()
        assert await asyncio.gather(batcher.submit(1), batcher.submit(2)) == [1, 2]
        await batcher.close()

    run(scenario())
    assert names == {"infer-m-0", "infer-m-1"}


# The tiny-model rule off (inline_below_s=0), so only being alone counts.
ALONE = BatchPolicy(inline_below_s=0, inline_alone_below_s=10.0, max_batch_size=4)
INLINE_RULES = pytest.mark.parametrize(
    "alone", [False, True], ids=["a fast model", "a request alone on the loop"]
)


def traffic_for(alone: bool) -> Traffic | None:
    return Traffic(alone_after_s=0) if alone else None


@INLINE_RULES
def test_lone_items_run_inline_once_timed(alone: bool) -> None:
    """The first lone item goes through a runner thread (no timing yet); once lone
    items are known to take less than the threshold, one with nothing queued (and,
    for the second rule, nothing else in flight or ready on the loop, and the last
    answer long enough ago) runs on the caller's thread."""
    model = FakeModel()

    async def scenario() -> None:
        policy = ALONE if alone else BatchPolicy(max_batch_size=4, inline_below_s=10.0)
        batcher = await started(Batcher("m", policy, model, traffic=traffic_for(alone)))
        assert await batcher.submit(1) == 2
        assert model.threads == {"infer-m-0"}
        model.threads.clear()
        assert await batcher.submit(2) == 4
        assert model.threads == {threading.current_thread().name}
        await batcher.close()

    run(scenario())
    assert model.batches == [[1], [2]]


@INLINE_RULES
def test_a_slow_model_never_runs_inline(alone: bool) -> None:
    names: list[str] = []

    def execute(instance: int, batch: list[Queued[int, int]]) -> list[int]:
        names.append(threading.current_thread().name)
        time.sleep(0.002)  # well above the threshold
        return [q.item for q in batch]

    async def scenario() -> None:
        policy = (
            BatchPolicy(inline_below_s=0, inline_alone_below_s=0.001)
            if alone
            else BatchPolicy(inline_below_s=0.001)
        )
        batcher: Batcher[int, int] = Batcher("m", policy, execute, traffic=traffic_for(alone))
        await batcher.start()
        for item in range(4):
            assert await batcher.submit(item) == item
        await batcher.close()

    run(scenario())
    assert names == ["infer-m-0"] * 4


def test_a_queue_delay_turns_inline_runs_off() -> None:
    model = FakeModel()

    async def scenario() -> None:
        policy = BatchPolicy(max_batch_size=1, max_queue_delay_s=0.001, inline_below_s=10.0)
        batcher = await started(Batcher("m", policy, model))
        for item in range(3):
            assert await batcher.submit(item) == 2 * item
        await batcher.close()

    run(scenario())
    assert model.threads == {"infer-m-0"}


def test_an_item_is_not_alone_while_another_models_item_is_in_flight() -> None:
    """The batchers of one loop share their traffic: an item of another model held in
    its runner keeps this one off the loop."""
    model, other = FakeModel(), FakeModel()

    async def scenario() -> None:
        traffic = Traffic(alone_after_s=0)
        batcher = await started(Batcher("m", ALONE, model, traffic=traffic))
        busy = await started(Batcher("other", ALONE, other, traffic=traffic))
        assert await batcher.submit(1) == 2  # timed
        held = await hold_first(other, busy)
        model.threads.clear()
        assert await batcher.submit(2) == 4
        assert model.threads == {"infer-m-0"}
        other.gate.set()
        assert await held == 200
        model.threads.clear()
        assert await batcher.submit(3) == 6
        assert model.threads == {threading.current_thread().name}
        await batcher.close()
        await busy.close()

    run(scenario())


def test_items_submitted_together_are_not_alone() -> None:
    """BatchPredict's items arrive as tasks started together: the first sees the
    others ready on the loop, so none runs inline ahead of the rest."""
    model = FakeModel()

    async def scenario() -> list[int]:
        batcher = await started(Batcher("m", ALONE, model, traffic=Traffic(alone_after_s=0)))
        assert await batcher.submit(1) == 2  # timed
        model.threads.clear()
        results = await asyncio.gather(*(batcher.submit(i) for i in (2, 3, 4)))
        await batcher.close()
        return results

    assert run(scenario()) == [4, 6, 8]
    assert model.threads == {"infer-m-0"}


@pytest.mark.parametrize(
    ("policy", "alone_after_s"),
    [
        # Within `alone_after_s` of the last answer a request was most likely waiting
        # in grpc while a pass ran on the loop.
        (ALONE, 60.0),
        (BatchPolicy(inline_below_s=0, inline_alone_below_s=10.0, instances=2), 0.0),
        (BatchPolicy(inline_below_s=0, inline_alone_below_s=10.0, max_queue_delay_s=0.001), 0.0),
        (BatchPolicy(inline_below_s=0, inline_alone_below_s=0), 0.0),
    ],
    ids=["soon after an answer", "two instances", "a queue delay", "turned off"],
)
def test_items_that_stay_off_the_loop(policy: BatchPolicy, alone_after_s: float) -> None:
    model = FakeModel()

    async def scenario() -> None:
        traffic = Traffic(alone_after_s=alone_after_s)
        batcher = await started(Batcher("m", policy, model, traffic=traffic))
        for item in range(3):
            assert await batcher.submit(item) == 2 * item
        await batcher.close()

    run(scenario())
    assert threading.current_thread().name not in model.threads


def test_a_failing_batch_fails_its_items_and_the_batcher_goes_on() -> None:
    calls: list[int] = []

    def execute(instance: int, batch: list[Queued[int, int]]) -> list[int | BaseException]:
        calls.append(batch[0].item)
        if batch[0].item < 0:
            raise ValueError("negative")
        return [q.item for q in batch]

    async def scenario() -> None:
        batcher: Batcher[int, int] = Batcher("m", BatchPolicy(inline_below_s=0), execute)
        await batcher.start()
        with pytest.raises(ValueError, match="negative"):
            await batcher.submit(-1)
        assert await batcher.submit(3) == 3
        await batcher.close()
        with pytest.raises(InferenceError) as closed:
            await batcher.submit(4)
        assert closed.value.code == grpc.StatusCode.UNAVAILABLE

    run(scenario())
    assert calls == [-1, 3]


def test_close_answers_what_is_queued() -> None:
    model = FakeModel()

    async def scenario() -> list[int]:
        batcher = await started(
            Batcher("m", BatchPolicy(inline_below_s=0, max_batch_size=2), model)
        )
        first = await hold_first(model, batcher)
        rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(3)]
        await until(lambda: batcher.queued == 3)
        closing = asyncio.ensure_future(batcher.close())
        await asyncio.sleep(0)
        model.gate.set()
        results = await asyncio.gather(first, *rest)
        await closing
        return results

    assert run(scenario()) == [200, 0, 2, 4]


def test_a_failing_init_fails_start() -> None:
    def init(instance: int) -> None:
        raise RuntimeError(f"instance {instance} cannot warm up")

    async def scenario() -> None:
        batcher: Batcher[int, int] = Batcher("m", BatchPolicy(inline_below_s=0), FakeModel(), init)
        with pytest.raises(RuntimeError, match="instance 0 cannot warm up"):
            await batcher.start()

    run(scenario())


def test_the_batcher_imports_without_torch(tmp_path: Any) -> None:
    import subprocess
    import sys

    probe = (
        "import sys, contracts_runtime.inference.batcher, contracts_runtime.inference.config, "
        "contracts_runtime.inference.tensors, contracts_runtime.inference; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"
