"""Prometheus metrics of the gRPC server, named and labelled as the gRPC ecosystem's
server metrics (go-grpc-middleware's prometheus provider), so the dashboards and alerts
of the fleet's Go services work unchanged: `grpc_code` is Go's spelling of the code
(`OK`, `NotFound`, `Canceled`, ...), `grpc_type` one of unary, client_stream,
server_stream, bidi_stream.

In one process the counts are plain numbers the event loop adds to (`MethodMetrics`),
which a collector reads when /metrics is scraped: prometheus-client's counters take a
lock and check their state on every update, and with eight updates a call they were most
of what the runtime's bookkeeping cost after the log line. With several worker processes
the values live in files under PROMETHEUS_MULTIPROC_DIR (prometheus-client's
multiprocess mode), which the parent process serves summed; there each update goes
through prometheus-client's label children (`LiveMethodMetrics`), as a collector in a
worker could not be scraped.
"""

from __future__ import annotations

import bisect
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from functools import cache
from typing import Protocol

import grpc
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LABELS = ("grpc_type", "grpc_service", "grpc_method")

# Name and help of each metric, for both ways of keeping them.
STARTED = ("grpc_server_started_total", "RPCs started on the server.")
HANDLED = (
    "grpc_server_handled_total",
    "RPCs completed on the server, whatever their status code.",
)
RECEIVED = ("grpc_server_msg_received_total", "Request messages received by the server.")
SENT = ("grpc_server_msg_sent_total", "Response messages sent by the server.")
HANDLING = (
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its status, in seconds.",
)
IN_FLIGHT = ("grpc_server_in_flight_requests", "RPCs being handled now.")
# Prometheus' default buckets, as prometheus-client's Histogram has them (+Inf last).
BUCKETS = Histogram.DEFAULT_BUCKETS
# The `le` label of each, as prometheus-client writes them (0.005, 1.0, +Inf).
_LE = tuple("+Inf" if math.isinf(bound) else repr(float(bound)) for bound in BUCKETS)

# Go's codes.Code.String(), which the ecosystem's grpc_code label carries.
GO_CODE_NAMES: dict[grpc.StatusCode, str] = {
    code: "".join(part.capitalize() for part in code.name.split("_")) for code in grpc.StatusCode
}
GO_CODE_NAMES[grpc.StatusCode.CANCELLED] = "Canceled"
GO_CODE_NAMES[grpc.StatusCode.OK] = "OK"


class Handled(Protocol):
    """The `handled` count of one method and code."""

    def inc(self) -> None: ...


class MethodMetrics(Protocol):
    """The metrics of one method; the interceptor calls these on every call."""

    def start(self) -> None: ...
    def receive(self) -> None: ...
    def send(self) -> None: ...
    def handled_counter(self, code: grpc.StatusCode) -> Handled: ...
    def handled(self, counter: Handled, seconds: float) -> None:
        """One call done: `counter` is `handled_counter(its code)`, which the caller
        looks up once per method and code."""


class _Count:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0
        self.created = time.time()

    def inc(self) -> None:
        self.value += 1


class CountedMethodMetrics:
    """One method's metrics as plain numbers, updated on the event loop's thread and read
    by `_Collector` at scrape time (reading a number is atomic under the GIL)."""

    def __init__(self, labels: tuple[str, str, str]) -> None:
        self.labels = labels
        self.created = time.time()
        self.started = 0
        self.received = 0
        self.sent = 0
        self.in_flight = 0
        self.by_code: dict[str, _Count] = {}
        self.buckets = [0] * len(BUCKETS)
        self.seconds = 0.0

    def start(self) -> None:
        self.started += 1
        self.in_flight += 1

    def receive(self) -> None:
        self.received += 1

    def send(self) -> None:
        self.sent += 1

    def handled_counter(self, code: grpc.StatusCode) -> Handled:
        name = GO_CODE_NAMES[code]
        found = self.by_code.get(name)
        if found is None:
            found = self.by_code[name] = _Count()
        return found

    def handled(self, counter: Handled, seconds: float) -> None:
        counter.inc()
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.seconds += seconds
        self.in_flight -= 1


# One per label set, as prometheus-client keeps one child per label set: two servers in
# one process (a service's tests) count into the same series.
_COUNTED: dict[tuple[str, str, str], CountedMethodMetrics] = {}


def _counter(spec: tuple[str, str], labels: tuple[str, ...] = _LABELS) -> CounterMetricFamily:
    return CounterMetricFamily(spec[0], spec[1], labels=labels)


class _Collector(Collector):
    """The counted metrics as prometheus-client's families, for /metrics."""

    def collect(self) -> Iterator[Metric]:
        started, received, sent = _counter(STARTED), _counter(RECEIVED), _counter(SENT)
        handled = _counter(HANDLED, (*_LABELS, "grpc_code"))
        handling = HistogramMetricFamily(HANDLING[0], HANDLING[1], labels=_LABELS)
        in_flight = GaugeMetricFamily(IN_FLIGHT[0], IN_FLIGHT[1], labels=_LABELS)
        for m in list(_COUNTED.values()):
            labels = list(m.labels)
            started.add_metric(labels, m.started, created=m.created)
            received.add_metric(labels, m.received, created=m.created)
            sent.add_metric(labels, m.sent, created=m.created)
            for code, count in list(m.by_code.items()):
                handled.add_metric([*labels, code], count.value, created=count.created)
            cumulative, total = [], 0
            for le, n in zip(_LE, list(m.buckets), strict=True):
                total += n
                cumulative.append((le, float(total)))
            handling.add_metric(labels, cumulative, m.seconds)
            handling.samples.append(
                Sample(HANDLING[0] + "_created", dict(zip(_LABELS, labels, strict=True)), m.created)
            )
            in_flight.add_metric(labels, m.in_flight)
        yield from (started, handled, received, sent, handling, in_flight)

    def describe(self) -> Iterator[Metric]:
        yield _counter(STARTED)
        yield _counter(HANDLED, (*_LABELS, "grpc_code"))
        yield _counter(RECEIVED)
        yield _counter(SENT)
        yield HistogramMetricFamily(HANDLING[0], HANDLING[1], labels=_LABELS)
        yield GaugeMetricFamily(IN_FLIGHT[0], IN_FLIGHT[1], labels=_LABELS)


class _Live:
    """prometheus-client's labelled metrics, for multiprocess mode only: made at first use
    so that one process never registers both these and the collector's names."""

    def __init__(self) -> None:
        self.started = Counter(*STARTED, _LABELS)
        self.handled = Counter(*HANDLED, (*_LABELS, "grpc_code"))
        self.received = Counter(*RECEIVED, _LABELS)
        self.sent = Counter(*SENT, _LABELS)
        self.handling = Histogram(*HANDLING, _LABELS)
        # Summed over the live worker processes.
        self.in_flight = Gauge(*IN_FLIGHT, _LABELS, multiprocess_mode="livesum")


@cache
def _live() -> _Live:
    return _Live()


class LiveMethodMetrics:
    """One method's label children, bound once, in a worker process."""

    def __init__(self, labels: tuple[str, str, str]) -> None:
        live = _live()
        self.labels = labels
        self._live = live
        self._started = live.started.labels(*labels)
        self._received = live.received.labels(*labels)
        self._sent = live.sent.labels(*labels)
        self._handling = live.handling.labels(*labels)
        self._in_flight = live.in_flight.labels(*labels)

    def start(self) -> None:
        self._started.inc()
        self._in_flight.inc()

    def receive(self) -> None:
        self._received.inc()

    def send(self) -> None:
        self._sent.inc()

    def handled_counter(self, code: grpc.StatusCode) -> Handled:
        counter: Handled = self._live.handled.labels(*self.labels, GO_CODE_NAMES[code])
        return counter

    def handled(self, counter: Handled, seconds: float) -> None:
        counter.inc()
        self._handling.observe(seconds)
        self._in_flight.dec()


@cache
def _collector_registered() -> bool:
    REGISTRY.register(_Collector())
    return True


def method_metrics(kind: str, service: str, method: str) -> MethodMetrics:
    """The metrics of one method, kept the way this process's mode needs."""
    labels = (kind, service, method)
    if in_multiprocess_mode():
        return LiveMethodMetrics(labels)
    _collector_registered()
    found = _COUNTED.get(labels)
    if found is None:
        found = _COUNTED[labels] = CountedMethodMetrics(labels)
    return found


def serve(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> tuple[int, object]:
    """Start the /metrics HTTP endpoint in a background thread; returns its bound port and
    a handle for `stop`. Raises OSError when the port is taken."""
    address = host.strip("[]")
    server, _thread = start_http_server(port, addr=address, registry=registry)
    return int(server.server_port), server


def stop(handle: object) -> None:
    shutdown = getattr(handle, "shutdown", None)
    if shutdown is not None:
        shutdown()


def multiprocess_registry(directory: str) -> CollectorRegistry:
    """A registry that sums the workers' value files (the parent's /metrics)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


def new_multiprocess_dir() -> str:
    return tempfile.mkdtemp(prefix="contracts-runtime-metrics-")


def worker_exited(directory: str, pid: int) -> None:
    """Drop a dead worker's live gauges (its counters stay in the sum)."""
    multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def remove_dir(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def in_multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_DIR_ENV))
