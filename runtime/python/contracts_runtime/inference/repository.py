"""A model repository at run time: every model version loaded, each behind its own
batcher and runner threads, with validation, metrics and readiness. torch is imported
only when a repository loads (runner.py), so importing this package needs no torch."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from prometheus_client import CollectorRegistry

from contracts_runtime.inference.batcher import Batcher, BatchPolicy, Queued, Traffic
from contracts_runtime.inference.config import ModelConfig, load_configs
from contracts_runtime.inference.errors import (
    InferenceError,
    QueueFullError,
    RepositoryError,
    invalid,
)
from contracts_runtime.inference.metrics import ModelMetrics, metrics_for
from contracts_runtime.inference.tensors import (
    VARIABLE,
    InputCheck,
    InputTensor,
    OutputTensor,
    TensorSpec,
    validate_inputs,
    validate_output_names,
)

if TYPE_CHECKING:
    from contracts_runtime.inference.model_process import ModelProcess
    from contracts_runtime.inference.runner import GenerateJob, PredictItem, Runner

log = logging.getLogger("contracts_runtime.inference")

Parameter = bool | int | float | str


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    version: str
    versions: tuple[str, ...]
    platform: str
    device: str
    kind: str
    max_batch_size: int
    # Shapes as a client sends them: a leading -1 (the batch) when the model batches.
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass
class ModelStats:
    """Plain counts of one model version (the same as its metrics), for tests and logs."""

    success: int = 0
    failure: int = 0
    inference_count: int = 0
    exec_count: int = 0
    queued: int = 0


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, QueueFullError):
        return "REJECTED"
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELED"
    if isinstance(exc, InferenceError):
        return {
            grpc.StatusCode.DEADLINE_EXCEEDED: "DEADLINE",
            grpc.StatusCode.CANCELLED: "CANCELED",
            grpc.StatusCode.INVALID_ARGUMENT: "INVALID",
            grpc.StatusCode.UNAVAILABLE: "REJECTED",
        }.get(exc.code, "BACKEND")
    return "BACKEND"


class Model:
    """One version of one model: `predict` (kind = "predict") or `generate`
    (kind = "generate")."""

    def __init__(
        self,
        config: ModelConfig,
        version: str,
        device: str,
        runners: Sequence[Runner | ModelProcess],
        metrics: ModelMetrics,
        traffic: Traffic | None = None,
    ) -> None:
        self.config = config
        self.version = version
        self.device = device
        self._runners = runners
        self._metrics = metrics
        self._lock = threading.Lock()
        self._stats = ModelStats()
        self.ready = False
        self._check_inputs = InputCheck(config.name, config.inputs, config.max_batch_size)
        self._all_outputs = list(config.outputs)
        generate = config.kind == "generate"
        batching = config.batching
        policy = BatchPolicy(
            # Generation holds an instance for the whole sequence: one at a time.
            max_batch_size=1 if generate else max(config.max_batch_size, 1),
            max_queue_delay_s=0.0 if generate else batching.max_queue_delay_us / 1e6,
            preferred_batch_sizes=() if generate else batching.preferred_batch_sizes,
            queue_size=batching.queue_size,
            instances=config.instances.count,
            # A generation holds the instance for many steps: never on the event loop.
            inline_below_s=0.0 if generate else batching.inline_below_us / 1e6,
            # With a variable dimension, one pass's time says little of the next one's:
            # a long input would hold the loop up.
            inline_alone_below_s=0.0
            if generate or any(VARIABLE in s.dims for s in config.inputs)
            else batching.inline_alone_below_us / 1e6,
        )
        self._batcher: Batcher[Any, Any] = Batcher(
            f"{config.name}:{version}",
            policy,
            self._run_generate if generate else self._run_predict,
            self._init_instance,
            on_depth=metrics.pending.set,
            traffic=traffic,
        )
        self.metadata = ModelMetadata(
            name=config.name,
            version=version,
            versions=config.versions,
            platform=config.platform_name,
            device=device,
            kind=config.kind,
            max_batch_size=config.max_batch_size,
            inputs=tuple(
                TensorSpec(s.name, s.dtype, s.metadata_shape(config.max_batch_size))
                for s in config.inputs
            ),
            outputs=tuple(
                TensorSpec(s.name, s.dtype, s.metadata_shape(config.max_batch_size))
                for s in config.outputs
            ),
        )

    @property
    def name(self) -> str:
        return self.config.name

    def stats(self) -> ModelStats:
        with self._lock:
            return dataclasses.replace(self._stats, queued=self._batcher.queued)

    async def start(self) -> None:
        await self._batcher.start()
        self.ready = True
        log.info(
            "model ready",
            extra={
                "model": self.name,
                "version": self.version,
                "device": self.device,
                "isolation": self.config.instances.isolation,
            },
        )

    async def close(self) -> None:
        self.ready = False
        await self._batcher.close()
        for runner in self._runners:
            runner.close()

    async def predict(
        self,
        inputs: Sequence[InputTensor],
        output_names: Sequence[str] = (),
        deadline: float | None = None,
        parameters: Mapping[str, Parameter] | None = None,
    ) -> list[OutputTensor]:
        """Validate, queue, and answer once the batch holding this request ran.
        `deadline` is an absolute `time.monotonic()`."""
        from contracts_runtime.inference.runner import PredictItem

        started = time.monotonic()
        try:
            if self.config.kind != "predict":
                raise invalid(f"model '{self.name}' generates; call it with streaming predict")
            if parameters:
                raise invalid(
                    f"model '{self.name}' takes no parameters; got " + ", ".join(sorted(parameters))
                )
            ordered, batch = self._check_inputs(inputs)
            outputs = (
                validate_output_names(self.name, self.config.outputs, output_names)
                if output_names
                else self._all_outputs
            )
            # Requests of different per-item shapes (variable dimensions) never share a batch.
            key = tuple([t.shape[1:] for t in ordered]) if self.config.max_batch_size > 0 else None
            result: list[OutputTensor] = await self._batcher.submit(
                PredictItem(ordered, batch, outputs), size=batch, key=key, deadline=deadline
            )
        except BaseException as exc:
            self._failed(exc)
            raise
        self._succeeded(started)
        return result

    async def generate(
        self,
        inputs: Sequence[InputTensor],
        output_names: Sequence[str] = (),
        parameters: Mapping[str, Parameter] | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[list[OutputTensor]]:
        """Yield each new token (a one-element INT64 output) as the model produces it.
        Parameter `max_tokens` (a whole number >= 1) overrides the config's. Stopping
        the iteration (or cancelling its task) stops the generation at the next step."""
        from contracts_runtime.inference.runner import GenerateJob

        started = time.monotonic()
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[list[OutputTensor] | None] = asyncio.Queue()
        done: asyncio.Future[Any] | None = None
        job: GenerateJob | None = None
        try:
            if self.config.kind != "generate":
                raise invalid(f"model '{self.name}' does not generate; call predict")
            max_tokens = self._max_tokens(parameters or {})
            [tokens], _ = validate_inputs(self.name, self.config.inputs, inputs, 0)
            if not tokens.shape[0]:
                raise invalid(f"input '{tokens.name}': at least one token id is needed")
            [output] = validate_output_names(self.name, self.config.outputs, output_names)

            def emit(piece: list[OutputTensor]) -> None:
                loop.call_soon_threadsafe(pieces.put_nowait, piece)

            job = GenerateJob(tokens, max_tokens, output, emit, deadline)
            done = asyncio.ensure_future(self._batcher.submit(job, deadline=deadline))
            # After every piece: call_soon_threadsafe keeps the runner's order.
            done.add_done_callback(lambda _: pieces.put_nowait(None))
            while True:
                piece = await pieces.get()
                if piece is None:
                    await done
                    break
                yield piece
        except BaseException as exc:
            self._failed(exc)
            raise
        finally:
            if job is not None:
                job.stop.set()
            if done is not None and not done.done():
                done.cancel()
        self._succeeded(started)

    def _max_tokens(self, parameters: Mapping[str, Parameter]) -> int:
        assert self.config.generate is not None
        unknown = sorted(set(parameters) - {"max_tokens"})
        if unknown:
            raise invalid(
                f"model '{self.name}': unknown parameter(s) {', '.join(unknown)}; it takes max_tokens"
            )
        value = parameters.get("max_tokens", self.config.generate.max_tokens)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid(f"parameter 'max_tokens': {value!r}, expected a whole number >= 1")
        return value

    def _succeeded(self, started: float) -> None:
        with self._lock:
            self._stats.success += 1
        self._metrics.success.inc()
        self._metrics.request_us.inc((time.monotonic() - started) * 1e6)

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, GeneratorExit):
            exc = asyncio.CancelledError()
        with self._lock:
            self._stats.failure += 1
        self._metrics.failures[_failure_reason(exc)].inc()

    def _init_instance(self, instance: int) -> None:
        runner = self._runners[instance]
        runner.init_thread()
        runner.warm_up()

    def _run_predict(
        self, instance: int, batch: list[Queued[PredictItem, list[OutputTensor]]]
    ) -> Sequence[list[OutputTensor] | BaseException]:
        started = time.monotonic()
        outcomes = self._runners[instance].predict([q.item for q in batch])
        self._executed(
            sum(q.size for q in batch), [started - q.enqueued for q in batch], started, 1
        )
        return outcomes

    def _run_generate(self, instance: int, batch: list[Queued[GenerateJob, None]]) -> list[None]:
        [queued] = batch
        started = time.monotonic()
        steps = self._runners[instance].generate(queued.item)
        self._executed(steps, [started - queued.enqueued], started, steps)
        return [None]

    def _executed(self, inferences: int, queue_s: list[float], started: float, execs: int) -> None:
        compute_s = time.monotonic() - started
        with self._lock:
            self._stats.inference_count += inferences
            self._stats.exec_count += execs
        self._metrics.executed(inferences, queue_s, compute_s, execs)


class ModelRepository:
    """Every model version of a repository folder (see the runtime's README for the
    format)."""

    def __init__(
        self, models: dict[str, dict[str, Model]], configs: dict[str, ModelConfig], device: str
    ) -> None:
        self._models = models
        self._configs = configs
        self.device = device

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str | None = None,
        registry: CollectorRegistry | None = None,
    ) -> ModelRepository:
        """Read every config and load every version's weights (one copy per instance)
        onto the device: `device` when given, else CUDA when available, else the CPU.
        Raises RepositoryError naming the file at fault; nothing runs until warm_up."""
        import torch

        from contracts_runtime.inference.device import select_device
        from contracts_runtime.inference.model_process import ModelProcess
        from contracts_runtime.inference.runner import Runner, load_module

        configs = load_configs(Path(path))
        chosen = select_device(device)
        log.info("inference device", extra={"device": chosen, "requested": device or "auto"})
        metrics = metrics_for(registry)
        models: dict[str, dict[str, Model]] = {}
        traffic = Traffic()
        for config in configs:
            versions: dict[str, Model] = {}
            for version in config.versions:
                runners: list[Runner | ModelProcess] = [
                    # A model process loads its weights itself when it starts (warm-up).
                    ModelProcess(config, version, chosen)
                    if config.instances.isolation == "process"
                    else Runner(
                        config,
                        version,
                        torch.device(chosen),
                        load_module(config, version, torch.device(chosen)),
                    )
                    for _ in range(config.instances.count)
                ]
                versions[version] = Model(
                    config, version, chosen, runners, metrics.model(config.name, version), traffic
                )
            models[config.name] = versions
        return cls(models, {c.name: c for c in configs}, chosen)

    async def warm_up(self) -> None:
        """Start each model's runner threads, each warming its instance up; the models
        are ready after. A model that fails names itself, and the repository closes."""
        try:
            for versions in self._models.values():
                for model in versions.values():
                    try:
                        await model.start()
                    except InferenceError as exc:
                        raise RepositoryError(
                            f"model '{model.name}' version {model.version}: warm-up failed: {exc.message}"
                        ) from exc
                    except Exception as exc:
                        raise RepositoryError(
                            f"model '{model.name}' version {model.version}: warm-up failed: {exc}"
                        ) from exc
        except BaseException:
            await self.close()
            raise

    @property
    def ready(self) -> bool:
        return all(m.ready for versions in self._models.values() for m in versions.values())

    def names(self) -> list[str]:
        return sorted(self._models)

    def find(self, name: str, version: str = "") -> Model:
        """The model version, ready or not; NOT_FOUND when unknown. Empty version: the
        config's default_version."""
        versions = self._models.get(name)
        if versions is None:
            raise InferenceError(
                grpc.StatusCode.NOT_FOUND,
                f"unknown model '{name}'; models: {', '.join(self.names())}",
            )
        model = versions.get(version or self._configs[name].default_version)
        if model is None:
            raise InferenceError(
                grpc.StatusCode.NOT_FOUND,
                f"model '{name}' has no version '{version}'; versions: {', '.join(versions)}",
            )
        return model

    def get(self, name: str, version: str = "") -> Model:
        """Like find, and UNAVAILABLE while the model is not ready."""
        model = self.find(name, version)
        if not model.ready:
            raise InferenceError(
                grpc.StatusCode.UNAVAILABLE,
                f"model '{name}' version {model.version} is not ready",
            )
        return model

    def stats(self) -> dict[tuple[str, str], ModelStats]:
        return {
            (name, version): model.stats()
            for name, versions in self._models.items()
            for version, model in versions.items()
        }

    async def close(self) -> None:
        """Refuse new requests, answer the queued ones, stop the runner threads."""
        for versions in self._models.values():
            for model in versions.values():
                await model.close()
