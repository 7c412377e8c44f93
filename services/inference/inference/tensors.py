"""Tensors and parameters of fleet.inference.v1.InferenceService, to and from the
runtime's plain ones.

The contract's DataType enum names the Open Inference Protocol datatypes with the
prefix DATA_TYPE_; the runtime speaks the bare strings (FP32, INT64, ...).
Checks of a tensor against a model (dtype, shape, byte length) are the runtime's; here
only what the runtime cannot see: an unset or unknown enum value, a parameter without
a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import grpc
from contracts_runtime.inference import (
    InferenceError,
    InputTensor,
    OutputTensor,
    Parameter,
    TensorSpec,
)
from fleet.inference.v1 import tensor_pb2

DATATYPE_PREFIX = "DATA_TYPE_"


def _invalid(message: str) -> InferenceError:
    return InferenceError(grpc.StatusCode.INVALID_ARGUMENT, message)


def datatype_name(value: int, tensor: str) -> str:
    """FP32 for DATA_TYPE_FP32; INVALID_ARGUMENT naming the tensor when unset or unknown."""
    if value == tensor_pb2.DATA_TYPE_UNSPECIFIED:
        raise _invalid(f"input '{tensor}': datatype is not set")
    try:
        return tensor_pb2.DataType.Name(value).removeprefix(DATATYPE_PREFIX)  # type: ignore[arg-type]
    except ValueError:
        raise _invalid(f"input '{tensor}': unknown datatype number {value}") from None


def datatype_value(name: str) -> tensor_pb2.DataType.ValueType:
    return tensor_pb2.DataType.Value(DATATYPE_PREFIX + name)


def to_inputs(tensors: Iterable[tensor_pb2.Tensor]) -> list[InputTensor]:
    return [
        InputTensor(t.name, datatype_name(t.datatype, t.name), tuple(t.shape), t.raw_data)
        for t in tensors
    ]


def to_tensor(output: OutputTensor) -> tensor_pb2.Tensor:
    return tensor_pb2.Tensor(
        name=output.name,
        datatype=datatype_value(output.dtype),
        shape=output.shape,
        raw_data=output.data,
    )


def to_metadata(spec: TensorSpec) -> tensor_pb2.TensorMetadata:
    """A declared tensor as model metadata shows it (the runtime's metadata already
    leads with -1, the batch, when the model batches)."""
    return tensor_pb2.TensorMetadata(
        name=spec.name, datatype=datatype_value(spec.dtype), shape=spec.dims
    )


def to_parameters(parameters: Mapping[str, tensor_pb2.Parameter]) -> dict[str, Parameter]:
    """The map's values as Python values; a Parameter with no member set is invalid."""
    values: dict[str, Parameter] = {}
    for key in sorted(parameters):
        member = parameters[key].WhichOneof("value")
        if member is None:
            raise _invalid(f"parameter '{key}': no value is set")
        value: Parameter = getattr(parameters[key], member)
        values[key] = value
    return values
