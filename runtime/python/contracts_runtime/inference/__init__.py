"""The inference runtime every inference service shares: a model repository (config.py),
a dynamic batcher (batcher.py, torch-free), the torch model runner (runner.py, imported
when a repository loads), tensor validation (tensors.py) and Triton-style metrics
(metrics.py). It speaks plain Python types; converting an RPC's messages to them is
the service's job. See runtime/README.md."""

from contracts_runtime.inference.batcher import Batcher, BatchPolicy
from contracts_runtime.inference.config import ModelConfig, load_config, load_configs
from contracts_runtime.inference.device import quiet_torch_warnings, select_device
from contracts_runtime.inference.errors import InferenceError, QueueFullError, RepositoryError
from contracts_runtime.inference.repository import (
    Model,
    ModelMetadata,
    ModelRepository,
    ModelStats,
    Parameter,
)
from contracts_runtime.inference.tensors import InputTensor, OutputTensor, TensorSpec

__all__ = [
    "BatchPolicy",
    "Batcher",
    "InferenceError",
    "InputTensor",
    "Model",
    "ModelConfig",
    "ModelMetadata",
    "ModelRepository",
    "ModelStats",
    "OutputTensor",
    "Parameter",
    "QueueFullError",
    "RepositoryError",
    "TensorSpec",
    "load_config",
    "load_configs",
    "quiet_torch_warnings",
    "select_device",
]
