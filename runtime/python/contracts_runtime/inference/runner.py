"""Running a model with torch: loading each platform's weights, stacking a batch into one
host buffer and one host-to-device copy, the forward pass under `torch.inference_mode()`,
splitting the outputs back per request, CUDA out-of-memory handling, and step-by-step
generation. Each `Runner` is one model instance and is only ever called from its own
runner thread (see batcher.py)."""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import inspect
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import torch

from contracts_runtime.inference.config import ModelConfig
from contracts_runtime.inference.errors import InferenceError, RepositoryError
from contracts_runtime.inference.tensors import (
    ELEMENT_SIZE,
    VARIABLE,
    InputTensor,
    OutputTensor,
    TensorSpec,
)

log = logging.getLogger("contracts_runtime.inference")

# What `[generate] state = true` asks of a module (see the runtime's README).
STATE_PROTOCOL = (
    "forward(ids, state) must return (logits, new_state), the state a tensor or a tuple of tensors"
)

TORCH_DTYPES: dict[str, torch.dtype] = {
    "BOOL": torch.bool,
    "UINT8": torch.uint8,
    "UINT16": torch.uint16,
    "UINT32": torch.uint32,
    "UINT64": torch.uint64,
    "INT8": torch.int8,
    "INT16": torch.int16,
    "INT32": torch.int32,
    "INT64": torch.int64,
    "FP16": torch.float16,
    "BF16": torch.bfloat16,
    "FP32": torch.float32,
    "FP64": torch.float64,
}


@dataclass
class PredictItem:
    """One request: its inputs in declared order, its batch size (1 when the model does
    not batch) and the outputs it wants."""

    inputs: list[InputTensor]
    batch: int
    outputs: list[TensorSpec]


@dataclass
class GenerateJob:
    """One generation: the prompt's token ids, how many tokens at most, and where each
    new token goes (`emit`, called in the runner thread, must not block)."""

    tokens: InputTensor
    max_tokens: int
    output: TensorSpec
    emit: Callable[[list[OutputTensor]], None]
    deadline: float | None
    stop: threading.Event = field(default_factory=threading.Event)


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's allocator failure, whichever way torch raised it (older code paths raise a
    plain RuntimeError whose message says so)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def load_module(config: ModelConfig, version: str, device: torch.device) -> Callable[..., Any]:
    """The model of one version on `device`, ready for inference. Failures name the file."""
    path = config.weights_path(version)
    try:
        if config.platform == "torchscript":
            module: Any = torch.jit.load(str(path), map_location=device)  # type: ignore[no-untyped-call]
            module.eval()
            return module  # type: ignore[no-any-return]
        if config.platform == "torch_export":
            program = torch.export.load(str(path))
            exported = program.module()
            # An exported graph keeps the training mode it was exported in; moving its
            # parameters and buffers is what `.to` supports.
            return exported.to(device)
        return _load_state_dict(config, path, device)
    except RepositoryError:
        raise
    except Exception as exc:
        raise RepositoryError(f"{path}: cannot load as {config.platform}: {exc}") from exc


def _load_state_dict(config: ModelConfig, path: Path, device: torch.device) -> torch.nn.Module:
    assert config.state_dict is not None
    spec = config.state_dict.module
    module_name, class_name = spec.split(":")
    config_file = config.path / "config.toml"
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise RepositoryError(
            f"{config_file}: state_dict.module = {spec!r} cannot be imported: {exc}"
        ) from None
    try:
        model = cls(**config.state_dict.kwargs)
    except TypeError as exc:
        raise RepositoryError(
            f"{config_file}: state_dict.kwargs do not fit {spec}: {exc}"
        ) from None
    if not isinstance(model, torch.nn.Module):
        raise RepositoryError(
            f"{config_file}: state_dict.module = {spec!r} is not a torch.nn.Module"
        )
    # weights_only: a state dict is tensors; never unpickle arbitrary objects.
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise RepositoryError(f"{path}: does not fit {spec}: {exc}") from None
    return model.to(device).eval()


def default_cpu_threads(instances: int) -> int:
    """The cores this process may use, less one for the event loop (gRPC, validation),
    shared among the instances. Leaving none made a lone request on a 2-core machine
    wait ~30 ms instead of ~0.2 ms: the pool's workers spin after each forward pass
    and starve the loop thread that must hand the answer back."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, ((usable or 1) - 1) // instances)


class Runner:
    """One instance of one model version."""

    def __init__(
        self, config: ModelConfig, version: str, device: torch.device, module: Callable[..., Any]
    ) -> None:
        self.config = config
        self.version = version
        self.device = device
        self.module = module
        self._pin = device.type == "cuda"
        self._stream: torch.cuda.Stream | None = None
        self._output_index = {spec.name: i for i, spec in enumerate(config.outputs)}
        self._threads = config.instances.cpu_threads or default_cpu_threads(config.instances.count)
        self._stateful = config.generate is not None and config.generate.state
        self._config_file = config.path / "config.toml"

    def close(self) -> None:
        """Nothing to release: the module goes with the process."""

    def init_thread(self) -> None:
        """Runs first in this instance's runner thread."""
        self._own_threads()
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            # Its own stream: instances on one GPU overlap instead of queueing on the
            # default stream behind each other's copies and kernels.
            self._stream = torch.cuda.Stream(self.device)  # type: ignore[no-untyped-call]

    def _own_threads(self) -> None:
        """This instance's intra-op thread count, in the calling thread: the count is
        per calling thread, so a value set in the main thread does not limit the pool
        a runner thread's forward passes fan out to (N instances would each start a
        pool as large as the machine), and a pass run inline on the event loop's
        thread must not use the loop thread's default (every core). Checked before
        each pass (about 0.1 us)."""
        if torch.get_num_threads() != self._threads:
            torch.set_num_threads(self._threads)

    def warm_up(self) -> None:
        """One forward pass on zeros (variable dimensions as 1) before the model is
        ready: first-call costs (allocator, kernel selection, TorchScript's profiling
        runs) are paid here, and a model whose outputs disagree with its config fails
        start-up instead of its first request. A stateful generate model runs two
        steps, so the call with one token and a state is checked too."""
        config = self.config
        if config.kind == "generate":
            taken = _positional_arguments(self.module)
            if self._stateful and taken is not None and taken < 2:
                raise self._model_error(
                    f"forward takes {taken} argument(s), but {self._config_file} sets "
                    f"generate.state = true: {STATE_PROTOCOL}"
                )
            spec = config.inputs[0]
            job = GenerateJob(
                InputTensor(spec.name, spec.dtype, (1,), bytes(8)),
                2 if self._stateful else 1,
                config.outputs[0],
                lambda _piece: None,
                None,
            )
            self.generate(job, stop_at_eos=False)
            return
        inputs = []
        for spec in config.inputs:
            dims = tuple(1 if d == VARIABLE else d for d in spec.dims)
            shape = (1, *dims) if config.max_batch_size > 0 else dims
            size = math.prod(shape) * ELEMENT_SIZE[spec.dtype]
            inputs.append(InputTensor(spec.name, spec.dtype, shape, bytes(size)))
        [outcome] = self.predict([PredictItem(inputs, 1, list(config.outputs))])
        if isinstance(outcome, BaseException):
            raise outcome

    def predict(self, items: Sequence[PredictItem]) -> list[list[OutputTensor] | BaseException]:
        """One forward pass for the batch; on CUDA out of memory, RESOURCE_EXHAUSTED for
        the batch, or (split_on_oom) its halves tried on their own."""
        self._own_threads()
        try:
            with self._on_stream():
                return list(self._forward(items))
        except InferenceError:
            raise
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise self._failure(exc) from exc
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            if self.config.batching.split_on_oom and len(items) > 1:
                half = len(items) // 2
                log.warning(
                    "out of memory on a batch of %d requests of model %s; retrying in halves",
                    len(items),
                    self.config.name,
                )
                return self.predict(items[:half]) + self.predict(items[half:])
            error = InferenceError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"model '{self.config.name}': out of memory on {self.device} running a batch "
                f"of {sum(i.batch for i in items)}",
            )
            return [error] * len(items)

    def _on_stream(self) -> contextlib.AbstractContextManager[Any]:
        if self._stream is None:
            return contextlib.nullcontext()
        return torch.cuda.stream(self._stream)

    def _forward(self, items: Sequence[PredictItem]) -> list[list[OutputTensor]]:
        batching = self.config.max_batch_size > 0
        tensors = [
            self._to_device([item.inputs[i] for item in items], batching)
            for i in range(len(self.config.inputs))
        ]
        with torch.inference_mode():
            produced = self.module(*tensors)
        outputs = self._named_outputs(produced)
        total = sum(item.batch for item in items)
        wanted = {spec.name for item in items for spec in item.outputs}
        host: dict[str, torch.Tensor] = {}
        for spec in self.config.outputs:
            if spec.name in wanted:
                host[spec.name] = self._output_on_host(
                    spec, outputs[self._output_index[spec.name]], batching, total
                )
        # Each output read off the tensor once for the whole batch, then cut per request
        # as bytes: a row of a contiguous tensor is a fixed run of bytes.
        data = {name: _bytes(tensor) for name, tensor in host.items()}
        rows = {name: tuple(tensor.shape[1:]) for name, tensor in host.items()}
        results: list[list[OutputTensor]] = []
        offset = 0
        for item in items:
            answer = []
            for spec in item.outputs:
                whole = data[spec.name]
                if not batching:
                    shape = tuple(host[spec.name].shape)
                    part = whole
                else:
                    shape = (item.batch, *rows[spec.name])
                    row = len(whole) // total
                    part = whole[offset * row : (offset + item.batch) * row]
                answer.append(OutputTensor(spec.name, spec.dtype, shape, part))
            results.append(answer)
            offset += item.batch
        return results

    def _to_device(self, parts: list[InputTensor], batching: bool) -> torch.Tensor:
        """The requests' bytes joined once into one host buffer (copied into pinned
        memory on CUDA, so the copy to the device can run asynchronously), then one copy
        to the device. Joining holds the GIL throughout; a copy per request through a
        call that drops it (ctypes.memmove) waited, each time, for the event loop to
        give the GIL back."""
        first = parts[0]
        dtype = TORCH_DTYPES[first.dtype]
        if batching:
            shape: tuple[int, ...] = (sum(p.shape[0] for p in parts), *first.shape[1:])
        else:
            shape = first.shape
        joined = bytearray().join([p.data for p in parts])
        if not joined:
            host = torch.empty(shape, dtype=dtype)
        else:
            host = torch.frombuffer(joined, dtype=dtype).reshape(shape)
        if self.device.type == "cpu":
            return host
        if self._pin:
            host = host.pin_memory()
        return host.to(self.device, non_blocking=True)

    def _named_outputs(self, produced: Any) -> list[torch.Tensor]:
        """The module's result in declared output order: a tensor (one output), a tuple
        or list in declared order, or a dict by output name."""
        names = [spec.name for spec in self.config.outputs]
        if isinstance(produced, torch.Tensor):
            values: list[Any] = [produced]
        elif isinstance(produced, dict):
            missing = [n for n in names if n not in produced]
            if missing:
                raise self._model_error(f"returned no output named {', '.join(missing)}")
            values = [produced[n] for n in names]
        elif isinstance(produced, tuple | list):
            values = list(produced)
        else:
            raise self._model_error(f"returned {type(produced).__name__}, expected tensors")
        if len(values) != len(names) or not all(isinstance(v, torch.Tensor) for v in values):
            raise self._model_error(
                f"returned {len(values)} value(s), expected {len(names)} tensor(s) ({', '.join(names)})"
            )
        return values

    def _output_on_host(
        self, spec: TensorSpec, tensor: torch.Tensor, batching: bool, total: int
    ) -> torch.Tensor:
        if tensor.dtype != TORCH_DTYPES[spec.dtype]:
            raise self._model_error(
                f"output '{spec.name}' is {tensor.dtype}, config says {spec.dtype}"
            )
        shape = tuple(tensor.shape)
        expected = (total, *spec.dims) if batching else spec.dims
        if len(shape) != len(expected) or any(
            want != VARIABLE and got != want for got, want in zip(shape, expected, strict=True)
        ):
            raise self._model_error(
                f"output '{spec.name}' has shape {list(shape)}, config says {list(expected)}"
            )
        return tensor.to("cpu").contiguous()

    def _failure(self, exc: Exception) -> InferenceError:
        """A model that raised: INTERNAL for the callers, the traceback in the log."""
        log.error("model %s version %s failed", self.config.name, self.version, exc_info=exc)
        return self._model_error(f"failed: {type(exc).__name__}: {exc}")

    def _model_error(self, what: str) -> InferenceError:
        return InferenceError(
            grpc.StatusCode.INTERNAL, f"model '{self.config.name}' version {self.version} {what}"
        )

    def generate(self, job: GenerateJob, *, stop_at_eos: bool = True) -> int:
        """Greedy decoding, one token a step: `module(ids)` with ids of shape [1, seq]
        returns next-token logits of shape [1, vocab] (or [1, seq, vocab], whose last
        position is used). With `[generate] state = true` the step is
        `module(ids, state)` returning (logits, new_state): the first step gets the
        prompt and None, every later one the new token alone ([1, 1]) and the state the
        step before returned, left where the model put it. Stops at max_tokens, the eos
        token (unless `stop_at_eos` is false), `job.stop`, or the deadline
        (DEADLINE_EXCEEDED). Returns the number of steps run."""
        try:
            return self._generate(job, stop_at_eos)
        except InferenceError:
            raise
        except Exception as exc:
            raise self._failure(exc) from exc

    def _generate(self, job: GenerateJob, stop_at_eos: bool) -> int:
        eos = self.config.generate.eos_token if self.config.generate and stop_at_eos else None
        stateful = self._stateful
        prompt = torch.frombuffer(bytearray(job.tokens.data), dtype=torch.int64).reshape(1, -1)
        steps = 0
        with torch.inference_mode(), self._on_stream():
            ids = prompt.to(self.device)
            state: Any = None
            for _ in range(job.max_tokens):
                if job.stop.is_set():
                    break
                if job.deadline is not None and time.monotonic() >= job.deadline:
                    raise InferenceError(
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"model '{self.config.name}': the deadline passed while generating",
                    )
                if stateful:
                    logits, state = self._stateful_step(ids, state)
                else:
                    logits = self.module(ids)
                steps += 1
                token = self._next_token(logits)
                job.emit(
                    [
                        OutputTensor(
                            job.output.name, "INT64", (1,), token.to_bytes(8, "little", signed=True)
                        )
                    ]
                )
                if token == eos:
                    break
                new = torch.tensor([[token]], device=self.device)
                # A stateful model has seen the prefix already: only the new token goes in.
                ids = new if stateful else torch.cat([ids, new], dim=1)
        return steps

    def _stateful_step(self, ids: torch.Tensor, state: Any) -> tuple[Any, Any]:
        produced = self.module(ids, state)
        if not (
            isinstance(produced, tuple | list) and len(produced) == 2 and _is_state(produced[1])
        ):
            raise self._model_error(
                f"returned {_described(produced)}, but {self._config_file} sets "
                f"generate.state = true: {STATE_PROTOCOL}"
            )
        return produced[0], produced[1]

    def _next_token(self, logits: Any) -> int:
        if not isinstance(logits, torch.Tensor) or logits.dim() not in (2, 3):
            hint = ""
            if not self._stateful and isinstance(logits, tuple | list) and len(logits) == 2:
                hint = (
                    " (it returned a pair, as a stateful model does: set generate.state = true"
                    f" in {self._config_file})"
                )
            raise self._model_error("must return next-token logits of shape [1, vocab]" + hint)
        last = logits[0, -1] if logits.dim() == 3 else logits[0]
        return int(last.argmax())


def _positional_arguments(module: Any) -> int | None:
    """How many arguments the module's forward takes, self aside; None when it cannot
    tell (*args). A TorchScript method has a schema instead of a Python signature."""
    forward = getattr(module, "forward", module)
    schema = getattr(forward, "schema", None)
    if schema is not None:
        return len(schema.arguments) - 1
    try:
        parameters = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def _is_state(value: Any) -> bool:
    """What the runtime carries between a stateful model's steps: a tensor or a tuple
    (or list) of tensors."""
    if isinstance(value, torch.Tensor):
        return True
    return (
        isinstance(value, tuple | list)
        and bool(value)
        and all(isinstance(v, torch.Tensor) for v in value)
    )


def _described(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"


def _bytes(tensor: torch.Tensor) -> bytes:
    """A contiguous CPU tensor's bytes (little-endian on the hosts we run on), read in
    one copy without numpy."""
    size = tensor.numel() * tensor.element_size()
    if size == 0:
        return b""
    return ctypes.string_at(tensor.data_ptr(), size)
