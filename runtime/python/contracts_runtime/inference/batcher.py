"""A dynamic batcher in the spirit of Triton's, for opaque items (torch-free).

Callers `await batcher.submit(item)` on the event loop; runner threads (one per model
instance) take batches off one bounded queue and call `execute(instance, batch)` outside
the loop; each result goes back to its caller through `loop.call_soon_threadsafe`, one
hand-off per batch, so the loop never waits for the model.

How a batch forms, each time a runner thread is free:
- Items whose deadline passed, or whose caller stopped waiting (cancelled, or its own
  deadline fired), are removed from the queue and never reach `execute`.
- Only items with the same `key` as the oldest item join its batch (the caller uses the
  per-item shape, so tensors of different variable dimensions are never stacked); the
  others keep their place for a later batch.
- Greedy (`max_queue_delay_s == 0`, the default): the thread takes at once what is
  queued, up to `max_batch_size` (the sum of the items' sizes). A lone item runs at once
  as a batch of one: no wait.
- With a delay, the batch waits for more items until it is full (`max_batch_size`, or
  the largest preferred size when there are preferred sizes) or its oldest item has
  waited the delay.
- With preferred sizes, a batch larger than the smallest preferred size is cut to the
  largest preferred size it can hold; the rest waits for the next free thread.
- Inline: when nothing is queued and an instance is free, an item may run at once on
  the caller's thread (the event loop's), in the instance's place. Handing it to a
  runner thread and its answer back costs two thread wake-ups and GIL hand-overs (150
  to 200 us on a 2-core VM), more than a tiny model takes to run. It runs inline when
  either
  - lone items of this batcher take less than `inline_below_s` (an average of what
    `execute` took for batches of one, quick to fall and slow to rise): a tiny model
    runs inline whenever it is free, even under load; one slower than the threshold
    from its first lone item never does; one that turns slow stops after a few dozen
    slow passes;
  - or the item is alone (`Traffic`): no other item of any batcher on the loop in
    flight, no other callback ready on the loop, the last answer at least
    `ALONE_AFTER_S` old; and lone items take less than `inline_alone_below_s`, the
    batcher has one instance and no queue delay. The loop is blocked for the pass,
    so calls arriving meanwhile wait inside grpc: with one instance they would have
    waited for it anyway, and the threshold bounds how long health checks wait. They
    reach the batcher right after the pass, sooner than `ALONE_AFTER_S`, so they are
    not alone and batch as usual; a lone caller's next request comes later.
  The first items, before the average exists, go through the runner threads.

A full queue (`queue_size` items, whatever their sizes) refuses at once with
RESOURCE_EXHAUSTED; a closed batcher with UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import grpc

from contracts_runtime.inference.errors import InferenceError, QueueFullError

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class BatchPolicy:
    max_batch_size: int = 1
    max_queue_delay_s: float = 0.0
    preferred_batch_sizes: tuple[int, ...] = ()
    queue_size: int = 256
    instances: int = 1
    # 0 turns inline runs off (see the module's docstring for both).
    inline_below_s: float = 200e-6
    inline_alone_below_s: float = 0.02

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.queue_size < 1 or self.instances < 1:
            raise ValueError(f"batch policy needs sizes and counts >= 1: {self}")
        if any(not 1 <= p <= self.max_batch_size for p in self.preferred_batch_sizes):
            raise ValueError(f"preferred batch sizes must lie in 1..{self.max_batch_size}")


@dataclass(eq=False, slots=True)
class Queued(Generic[T, R]):
    """One waiting item. `enqueued` is its `time.monotonic()` on arrival, `deadline`
    an absolute `time.monotonic()` or None."""

    item: T
    size: int
    key: Hashable
    deadline: float | None
    enqueued: float
    future: asyncio.Future[R]
    loop: asyncio.AbstractEventLoop
    abandoned: bool = field(default=False)


# A request that reaches the batcher sooner than this after the last answer had most
# likely been waiting inside grpc while a pass ran on the loop (accepting it takes a
# loop turn or two, tens of microseconds); a lone caller's next request needs the
# answer's round trip first (several hundred microseconds here).
ALONE_AFTER_S = 300e-6


@dataclass
class Traffic:
    """What the batchers of one event loop share to tell whether a request is alone:
    their items not yet answered (across models, generation included) and when the
    last was answered (`time.monotonic()`). Touched only on the loop's thread."""

    in_flight: int = 0
    last_answered: float = float("-inf")
    alone_after_s: float = ALONE_AFTER_S


def _loop_has_nothing_ready(loop: asyncio.AbstractEventLoop) -> bool:
    """No other callback waits to run on the loop (BatchPredict's other items, a call
    just accepted). It reads the ready queue of asyncio's own loops; any other loop
    (uvloop) answers False, which only turns lone inline runs off."""
    ready = getattr(loop, "_ready", None)
    return ready is not None and not ready


# (instance number, the batch) -> one result or exception per item, in order.
Execute = Callable[[int, list[Queued[T, R]]], Sequence[R | BaseException]]


class Batcher(Generic[T, R]):
    def __init__(
        self,
        name: str,
        policy: BatchPolicy,
        execute: Execute[T, R],
        init: Callable[[int], None] | None = None,
        on_depth: Callable[[int], None] | None = None,
        traffic: Traffic | None = None,
    ) -> None:
        """`init(instance)` runs first in each runner thread (thread settings, warm-up);
        `start` fails with its exception. `on_depth(n)` hears each new queue length
        (under the queue's lock: keep it cheap, such as a gauge's set). `traffic`, one
        for every batcher on the loop, turns lone inline runs on."""
        self.name = name
        self._on_depth = on_depth
        self.policy = policy
        self._execute = execute
        self._init = init
        self._queue: deque[Queued[T, R]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._threads: list[threading.Thread] = []
        # Instances running a batch (in their runner thread, or lent to an inline run).
        self._busy: set[int] = set()
        # What `execute` takes for one item (see `_run`); None until one ran.
        self._lone_s: float | None = None
        # Delay mode: a waiting thread must re-check on every arrival, not just one of them.
        self._notify = self._cond.notify_all if policy.max_queue_delay_s > 0 else self._cond.notify
        # A queue delay asks for fuller batches: a lone item waits for company there.
        self._inline_below = policy.inline_below_s if policy.max_queue_delay_s == 0 else 0.0
        self._traffic = traffic
        # With more instances, a request arriving during a pass on the loop could have
        # run on another instance at once; here it waits inside grpc until the pass ends.
        self._alone_below = (
            policy.inline_alone_below_s
            if traffic is not None and policy.max_queue_delay_s == 0 and policy.instances == 1
            else 0.0
        )

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def start(self) -> None:
        """Start the runner threads; returns once each ran `init`."""
        if self._threads or self._closed:
            raise RuntimeError(f"batcher {self.name} was already started")
        ready: list[concurrent.futures.Future[None]] = []
        for instance in range(self.policy.instances):
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            thread = threading.Thread(
                target=self._serve, args=(instance, done), name=f"infer-{self.name}-{instance}"
            )
            # Daemon: a process that exits without `close` is not held up by idle runners.
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
            ready.append(done)
        try:
            for done in ready:
                await asyncio.wrap_future(done)
        except BaseException:
            await self.close()
            raise

    async def submit(
        self, item: T, *, size: int = 1, key: Hashable = None, deadline: float | None = None
    ) -> R:
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        if deadline is not None and deadline <= now:
            raise _deadline_error(self.name)
        future: asyncio.Future[R] = loop.create_future()
        queued = Queued(item, size, key, deadline, now, future, loop)
        lone = self._lone_s
        inline: int | None = None
        with self._cond:
            if self._closed:
                raise InferenceError(
                    grpc.StatusCode.UNAVAILABLE, f"model '{self.name}' is shutting down"
                )
            if len(self._queue) >= self.policy.queue_size:
                raise QueueFullError(
                    f"model '{self.name}': queue full ({self.policy.queue_size} requests waiting); retry with backoff",
                )
            if (
                lone is not None
                and not self._queue
                and (
                    lone < self._inline_below
                    or (lone < self._alone_below and self._alone(loop, now))
                )
            ):
                inline = self._lend()
            if inline is None:
                self._queue.append(queued)
                self._depth_changed()
                self._notify()
        traffic = self._traffic
        if traffic is not None:
            traffic.in_flight += 1
        try:
            if inline is not None:
                return self._run_inline(inline, queued)
            return await self._answer(queued, loop, now)
        finally:
            if traffic is not None:
                traffic.in_flight -= 1
                traffic.last_answered = time.monotonic()

    async def _answer(self, queued: Queued[T, R], loop: asyncio.AbstractEventLoop, now: float) -> R:
        """The queued item's outcome once a runner thread ran it; DEADLINE_EXCEEDED when
        its deadline passes first. An item whose caller stopped waiting never runs."""
        deadline, future = queued.deadline, queued.future
        if deadline is None:
            # No timer to arm: the plain await is the short path.
            try:
                return await future
            except BaseException:
                self._abandon(queued)
                raise
        timeout = asyncio.timeout_at(loop.time() + deadline - now)
        try:
            async with timeout:
                return await future
        except TimeoutError:
            self._abandon(queued)
            if timeout.expired():
                raise _deadline_error(self.name) from None
            raise
        except BaseException:
            self._abandon(queued)
            raise

    def _alone(self, loop: asyncio.AbstractEventLoop, now: float) -> bool:
        """Nothing else in flight on this loop, nothing ready to run on it, and the
        last answer went out long enough ago that this request was not held up by it."""
        traffic = self._traffic
        return (
            traffic is not None
            and traffic.in_flight == 0
            and now - traffic.last_answered >= traffic.alone_after_s
            and _loop_has_nothing_ready(loop)
        )

    def _lend(self) -> int | None:
        """A free instance, marked busy; None when all are running. Under the lock."""
        for instance in range(len(self._threads)):
            if instance not in self._busy:
                self._busy.add(instance)
                return instance
        return None

    def _run_inline(self, instance: int, queued: Queued[T, R]) -> R:
        try:
            [outcome] = self._run(instance, [queued])
        finally:
            with self._cond:
                self._busy.discard(instance)
                if self._queue:
                    # Items another thread queued meanwhile: this instance's thread may take them.
                    self._cond.notify_all()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _run(self, instance: int, batch: list[Queued[T, R]]) -> Sequence[R | BaseException]:
        """`execute`, with its failure as every item's outcome; times lone items."""
        started = time.perf_counter()
        try:
            outcomes: Sequence[R | BaseException] = self._execute(instance, batch)
            if len(outcomes) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} items gave {len(outcomes)} results")
        except Exception as exc:
            outcomes = [exc] * len(batch)
        if len(batch) == 1:
            took = time.perf_counter() - started
            lone = self._lone_s
            # Quick to fall, slow to rise: a runner thread's pass also counts the time
            # it waited for the GIL while the event loop ran, which says nothing of the
            # model, and would keep a busy server from ever running inline.
            self._lone_s = took if lone is None or took < lone else lone + 0.05 * (took - lone)
        return outcomes

    async def close(self) -> None:
        """Refuse new items, let the runner threads finish what is queued, join them."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        threads, self._threads = self._threads, []
        for thread in threads:
            await asyncio.to_thread(thread.join)

    def _abandon(self, queued: Queued[T, R]) -> None:
        """The caller stopped waiting: if the item is still queued, it never runs."""
        with self._cond:
            queued.abandoned = True
            # Already taken into a batch when absent: its result is discarded on arrival.
            with contextlib.suppress(ValueError):
                self._queue.remove(queued)
                self._depth_changed()

    def _serve(self, instance: int, ready: concurrent.futures.Future[None]) -> None:
        try:
            if self._init is not None:
                self._init(instance)
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        while True:
            batch = self._next_batch(instance)
            if batch is None:
                return
            try:
                outcomes = self._run(instance, batch)
            finally:
                with self._cond:
                    self._busy.discard(instance)
            _deliver(batch, outcomes)

    def _next_batch(self, instance: int) -> list[Queued[T, R]] | None:
        """Wait for work and take one batch off the queue (the instance busy with it);
        None once closed and empty."""
        policy = self.policy
        with self._cond:
            while True:
                now = time.monotonic()
                self._drop_expired(now)
                if not self._queue:
                    if self._closed:
                        return None
                    self._cond.wait()
                    continue
                if instance in self._busy:
                    # Lent to an inline run; the lender wakes this thread when done.
                    self._cond.wait()
                    continue
                if policy.max_queue_delay_s > 0 and not self._closed:
                    head = self._queue[0]
                    wait = head.enqueued + policy.max_queue_delay_s - now
                    target = max(policy.preferred_batch_sizes, default=policy.max_batch_size)
                    if wait > 0 and self._fill(head.key) < target:
                        self._cond.wait(wait)
                        continue
                self._busy.add(instance)
                return self._take()

    def _drop_expired(self, now: float) -> None:
        expired = [q for q in self._queue if q.deadline is not None and q.deadline <= now]
        if expired:
            for q in expired:
                self._queue.remove(q)
            self._depth_changed()
            _deliver(expired, [_deadline_error(self.name)] * len(expired))

    def _fill(self, key: Hashable) -> int:
        total = 0
        for q in self._queue:
            if q.key == key:
                if total + q.size > self.policy.max_batch_size:
                    break
                total += q.size
        return total

    def _take(self) -> list[Queued[T, R]]:
        key = self._queue[0].key
        limit = self.policy.max_batch_size
        fill = self._fill(key)
        fitting = [p for p in self.policy.preferred_batch_sizes if p <= fill]
        if fitting:
            limit = max(fitting)
        batch: list[Queued[T, R]] = []
        rest: deque[Queued[T, R]] = deque()
        total = 0
        for q in self._queue:
            # The oldest item always runs, even if it alone exceeds a preferred size.
            if q.key == key and (not batch or total + q.size <= limit):
                batch.append(q)
                total += q.size
            else:
                rest.append(q)
        self._queue = rest
        self._depth_changed()
        return batch

    def _depth_changed(self) -> None:
        if self._on_depth is not None:
            self._on_depth(len(self._queue))


def _deadline_error(name: str) -> InferenceError:
    return InferenceError(
        grpc.StatusCode.DEADLINE_EXCEEDED, f"model '{name}': the deadline passed before it ran"
    )


def _deliver(batch: Sequence[Queued[Any, Any]], outcomes: Sequence[object]) -> None:
    """Hand the outcomes to their callers' loops: one call per loop per batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], object]]] = {}
    for queued, outcome in zip(batch, outcomes, strict=True):
        if not queued.abandoned:
            by_loop.setdefault(queued.loop, []).append((queued.future, outcome))
    for loop, pairs in by_loop.items():
        # A closed loop raises RuntimeError: nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, pairs)


def _settle(pairs: list[tuple[asyncio.Future[Any], object]]) -> None:
    for future, outcome in pairs:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
