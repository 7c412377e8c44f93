"""Tensors as the runtime speaks them (names, Open Inference Protocol datatype strings,
shapes and little-endian bytes; no protobuf, no torch), and their validation against
what a model declares. Torch-free, so a service validates without importing torch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from contracts_runtime.inference.errors import invalid

# Bytes per element of each supported datatype. BYTES (length-prefixed strings) has no
# fixed size and no torch dtype, so models cannot declare it (the config loader says so).
ELEMENT_SIZE: dict[str, int] = {
    "BOOL": 1,
    "UINT8": 1,
    "UINT16": 2,
    "UINT32": 4,
    "UINT64": 8,
    "INT8": 1,
    "INT16": 2,
    "INT32": 4,
    "INT64": 8,
    "FP16": 2,
    "BF16": 2,
    "FP32": 4,
    "FP64": 8,
}

VARIABLE = -1


@dataclass(frozen=True)
class TensorSpec:
    """One input or output a model declares: `dims` per item, without the batch
    dimension; -1 marks a variable dimension."""

    name: str
    dtype: str
    dims: tuple[int, ...]

    def metadata_shape(self, max_batch_size: int) -> tuple[int, ...]:
        """The shape a client sees in model metadata: a leading -1 (the batch) when
        the model batches, as Triton reports it."""
        return (VARIABLE, *self.dims) if max_batch_size > 0 else self.dims


@dataclass(frozen=True)
class InputTensor:
    """A request's input: `data` holds product(shape) elements, row-major,
    little-endian. With a batching model the shape starts with the batch size."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    data: bytes


@dataclass(frozen=True)
class OutputTensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    data: bytes


def _dims_text(dims: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def validate_inputs(
    model: str,
    specs: Sequence[TensorSpec],
    inputs: Sequence[InputTensor],
    max_batch_size: int,
) -> tuple[list[InputTensor], int]:
    """The inputs in declared order and the request's batch size (1 for a model that
    does not batch). Raises InferenceError(INVALID_ARGUMENT) naming the tensor."""
    by_name: dict[str, InputTensor] = {}
    declared = {spec.name for spec in specs}
    for tensor in inputs:
        if tensor.name not in declared:
            raise invalid(
                f"model '{model}' has no input '{tensor.name}'; its inputs are "
                + ", ".join(sorted(declared))
            )
        if tensor.name in by_name:
            raise invalid(f"input '{tensor.name}' is given twice")
        by_name[tensor.name] = tensor
    missing = [spec.name for spec in specs if spec.name not in by_name]
    if missing:
        raise invalid(f"model '{model}' needs input(s) " + ", ".join(f"'{m}'" for m in missing))
    ordered = [by_name[spec.name] for spec in specs]
    batch = 1
    batch_of: str | None = None
    for spec, tensor in zip(specs, ordered, strict=True):
        size = _validate_one(spec, tensor, max_batch_size)
        if max_batch_size > 0:
            if batch_of is not None and size != batch:
                raise invalid(
                    f"input '{tensor.name}': batch size {size} differs from input "
                    f"'{batch_of}' (batch size {batch})"
                )
            batch, batch_of = size, tensor.name
    return ordered, batch


class InputCheck:
    """`validate_inputs` for one model, with what it compares computed once: a request
    that names its inputs in declared order and is well-formed passes with a few
    comparisons per tensor; anything else goes through `validate_inputs`, which
    accepts another order or raises the error naming the tensor."""

    def __init__(self, model: str, specs: Sequence[TensorSpec], max_batch_size: int) -> None:
        self.model = model
        self.specs = tuple(specs)
        self.max_batch_size = max_batch_size
        # Per input: name, dtype, the expected shape (batch dimension included), and
        # bytes per batch element; None where a variable dimension needs the full check.
        self._fast: list[tuple[str, str, tuple[int, ...], int]] | None = []
        for spec in self.specs:
            if VARIABLE in spec.dims or spec.dtype == "BOOL":
                self._fast = None
                break
            shape = spec.metadata_shape(max_batch_size)
            self._fast.append(
                (spec.name, spec.dtype, shape, math.prod(spec.dims) * ELEMENT_SIZE[spec.dtype])
            )

    def __call__(self, inputs: Sequence[InputTensor]) -> tuple[list[InputTensor], int]:
        fast = self._fast
        if fast is not None and len(inputs) == len(fast):
            batching = self.max_batch_size > 0
            batch = 1
            for (name, dtype, shape, row), tensor in zip(fast, inputs, strict=True):
                got = tensor.shape
                if tensor.name != name or tensor.dtype != dtype or len(got) != len(shape):
                    break
                if batching:
                    size = got[0]
                    if got[1:] != shape[1:] or not 1 <= size <= self.max_batch_size:
                        break
                    if tensor is not inputs[0] and size != batch:
                        break
                    batch = size
                elif got != shape:
                    break
                if len(tensor.data) != batch * row:
                    break
            else:
                return list(inputs), batch
        return validate_inputs(self.model, self.specs, inputs, self.max_batch_size)


def _validate_one(spec: TensorSpec, tensor: InputTensor, max_batch_size: int) -> int:
    """The tensor's batch size (its first dimension when the model batches)."""
    if tensor.dtype != spec.dtype:
        raise invalid(f"input '{spec.name}': datatype {tensor.dtype}, expected {spec.dtype}")
    shape = tuple(tensor.shape)
    expected = spec.metadata_shape(max_batch_size)
    wrong = len(shape) != len(expected) or any(
        want != VARIABLE and got != want for got, want in zip(shape, expected, strict=False)
    )
    if wrong or any(d < 0 for d in shape):
        raise invalid(
            f"input '{spec.name}': shape {_dims_text(shape)}, expected {_dims_text(expected)}"
            + (" (-1: any size)" if VARIABLE in expected else "")
        )
    batch = 1
    if max_batch_size > 0:
        batch = shape[0]
        if not 1 <= batch <= max_batch_size:
            raise invalid(
                f"input '{spec.name}': batch size {batch}, expected 1 to {max_batch_size}"
            )
    want_bytes = math.prod(shape) * ELEMENT_SIZE[spec.dtype]
    if len(tensor.data) != want_bytes:
        raise invalid(
            f"input '{spec.name}': {len(tensor.data)} bytes of data, expected {want_bytes} "
            f"(shape {_dims_text(shape)} x {ELEMENT_SIZE[spec.dtype]} bytes per {spec.dtype})"
        )
    # The contract allows only 0x00 and 0x01; torch would read other bytes as true
    # without complaint.
    if spec.dtype == "BOOL" and tensor.data.translate(None, b"\x00\x01"):
        raise invalid(f"input '{spec.name}': BOOL elements must be bytes 0x00 or 0x01")
    return batch


def validate_output_names(
    model: str, specs: Sequence[TensorSpec], names: Sequence[str]
) -> list[TensorSpec]:
    """The outputs to return: those named (in the order named), or all when none are."""
    if not names:
        return list(specs)
    by_name = {spec.name: spec for spec in specs}
    chosen: list[TensorSpec] = []
    for name in names:
        spec = by_name.get(name)
        if spec is None:
            raise invalid(
                f"model '{model}' has no output '{name}'; its outputs are "
                + ", ".join(sorted(by_name))
            )
        if spec in chosen:
            raise invalid(f"output '{name}' is requested twice")
        chosen.append(spec)
    return chosen
