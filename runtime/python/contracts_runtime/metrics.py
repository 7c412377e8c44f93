"""Prometheus metrics of the gRPC server, named and labelled as the gRPC ecosystem's
server metrics (go-grpc-middleware's prometheus provider), so the dashboards and alerts
of the fleet's Go services work unchanged: `grpc_code` is Go's spelling of the code
(`OK`, `NotFound`, `Canceled`, ...), `grpc_type` one of unary, client_stream,
server_stream, bidi_stream.

With several worker processes the values live in files under PROMETHEUS_MULTIPROC_DIR
(prometheus-client's multiprocess mode), which the parent process serves summed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field

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

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LABELS = ("grpc_type", "grpc_service", "grpc_method")

STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", _LABELS)
HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, whatever their status code.",
    (*_LABELS, "grpc_code"),
)
RECEIVED = Counter(
    "grpc_server_msg_received_total", "Request messages received by the server.", _LABELS
)
SENT = Counter("grpc_server_msg_sent_total", "Response messages sent by the server.", _LABELS)
HANDLING = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its status, in seconds.",
    _LABELS,
)
IN_FLIGHT = Gauge(
    "grpc_server_in_flight_requests",
    "RPCs being handled now.",
    _LABELS,
    # Summed over the live worker processes in multiprocess mode.
    multiprocess_mode="livesum",
)

# Go's codes.Code.String(), which the ecosystem's grpc_code label carries.
GO_CODE_NAMES: dict[grpc.StatusCode, str] = {
    code: "".join(part.capitalize() for part in code.name.split("_")) for code in grpc.StatusCode
}
GO_CODE_NAMES[grpc.StatusCode.CANCELLED] = "Canceled"
GO_CODE_NAMES[grpc.StatusCode.OK] = "OK"


@dataclass
class MethodMetrics:
    """The label children of one method, bound once so a call costs a few increments."""

    kind: str
    service: str
    method: str
    _handled: dict[grpc.StatusCode, Counter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        labels = (self.kind, self.service, self.method)
        self.started = STARTED.labels(*labels)
        self.received = RECEIVED.labels(*labels)
        self.sent = SENT.labels(*labels)
        self.handling = HANDLING.labels(*labels)
        self.in_flight = IN_FLIGHT.labels(*labels)

    def start(self) -> None:
        self.started.inc()
        self.in_flight.inc()

    def handled(self, code: grpc.StatusCode, seconds: float) -> None:
        counter = self._handled.get(code)
        if counter is None:
            counter = HANDLED.labels(self.kind, self.service, self.method, GO_CODE_NAMES[code])
            self._handled[code] = counter
        counter.inc()
        self.handling.observe(seconds)
        self.in_flight.dec()


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
