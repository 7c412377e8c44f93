"""Per model and version metrics with Triton's meanings under our own `inference_`
prefix (Triton's are `nv_inference_*`), so an operator who knows Triton reads them at
once; runtime/README.md lists them. Requests dropped before the model (deadline passed,
caller cancelled, queue full) count as failures and never as inferences or executions.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

LABELS = ("model", "version")
FAILURE_REASONS = ("REJECTED", "CANCELED", "DEADLINE", "INVALID", "BACKEND")


class InferenceMetrics:
    """The collectors, registered once on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...] = LABELS) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        self.success = counter("inference_request_success", "Inference requests answered.")
        self.failure = counter(
            "inference_request_failure",
            "Inference requests failed, by reason (REJECTED, CANCELED, DEADLINE, INVALID, BACKEND).",
            (*LABELS, "reason"),
        )
        self.count = counter("inference_count", "Inferences performed (batch elements computed).")
        self.exec_count = counter(
            "inference_exec_count",
            "Model executions; inference_count / exec_count is the mean batch size.",
        )
        self.request_us = counter(
            "inference_request_duration_us",
            "Cumulative time from arrival to answer of successful requests, in microseconds.",
        )
        self.queue_us = counter(
            "inference_queue_duration_us",
            "Cumulative time requests waited in the queue, in microseconds.",
        )
        self.compute_us = counter(
            "inference_compute_infer_duration_us",
            "Cumulative model execution time, each request counting its batch's, in microseconds.",
        )
        self.pending = Gauge(
            "inference_pending_request_count",
            "Requests waiting in the queue.",
            LABELS,
            registry=registry,
            multiprocess_mode="livesum",
        )

    def model(self, name: str, version: str) -> ModelMetrics:
        return ModelMetrics(self, name, version)


@dataclass
class ModelMetrics:
    """The label children of one model version, bound once."""

    metrics: InferenceMetrics
    name: str
    version: str

    def __post_init__(self) -> None:
        labels = (self.name, self.version)
        m = self.metrics
        self.success = m.success.labels(*labels)
        self.failures = {r: m.failure.labels(*labels, r) for r in FAILURE_REASONS}
        self.count = m.count.labels(*labels)
        self.exec_count = m.exec_count.labels(*labels)
        self.request_us = m.request_us.labels(*labels)
        self.queue_us = m.queue_us.labels(*labels)
        self.compute_us = m.compute_us.labels(*labels)
        self.pending = m.pending.labels(*labels)

    def executed(
        self, inferences: int, queue_s: Sequence[float], compute_s: float, execs: int = 1
    ) -> None:
        """`execs` forward passes over `inferences` batch elements, for len(queue_s)
        requests that waited queue_s each; compute_s is the batch's time in the model."""
        self.exec_count.inc(execs)
        self.count.inc(inferences)
        self.queue_us.inc(sum(queue_s) * 1e6)
        self.compute_us.inc(compute_s * 1e6 * len(queue_s))


_LOCK = threading.Lock()
_BY_REGISTRY: dict[int, tuple[CollectorRegistry, InferenceMetrics]] = {}


def metrics_for(registry: CollectorRegistry | None = None) -> InferenceMetrics:
    """The collectors on `registry` (default: prometheus-client's global one, which the
    runtime's /metrics serves), created on first use: a registry refuses the same
    metric name twice, and a process may load several repositories."""
    registry = REGISTRY if registry is None else registry
    with _LOCK:
        found = _BY_REGISTRY.get(id(registry))
        if found is None or found[0] is not registry:
            found = (registry, InferenceMetrics(registry))
            _BY_REGISTRY[id(registry)] = found
        return found[1]
