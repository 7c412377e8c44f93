"""The view of an inference server (template `gpu-inference`): what its templates need
beyond the service view, decided from the descriptor model: that the service has the
shape of fleet.inference.v1.InferenceService (its five RPCs, each of the right kind),
the module of its Tensor messages, the DataType enum's name prefix, and whether model
metadata carries a device field; and, on the service view the grpc template's shared
files read, the runtime's `inference` extra and the start-up budget of a model warm-up.

A template asks for this view with `view = "inference"` in its template.toml.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from codegen.gen import python_names
from codegen.scaffold.view import RUNTIME_REQUIREMENT, Import, RpcKind, ServiceView
from contracts_core.descriptors import Element, Kind, Model
from contracts_core.errors import UsageError

NAME = "inference"
# The RPCs an inference server implements and their call shapes.
RPCS = {
    "Predict": RpcKind.UNARY,
    "BatchPredict": RpcKind.UNARY,
    "PredictStream": RpcKind.SERVER_STREAM,
    "GetModelMetadata": RpcKind.UNARY,
    "GetModelReady": RpcKind.UNARY,
}
_SHAPE = "fleet.inference.v1.InferenceService"
_ZERO = "UNSPECIFIED"
# The runtime's extra that brings PyTorch (runtime/python/pyproject.toml).
RUNTIME_EXTRA = "inference"
# Where the server looks for its models unless told (a folder of the service).
MODEL_REPOSITORY = "model_repository"
# The startup probe's budget: every model loads and runs once before health says
# SERVING. Its own, so that a change to the plain service's budget leaves it alone.
STARTUP_BUDGET_S = 300


@dataclass(frozen=True)
class InferenceView:
    pb2: str  # the service file's _pb2 module alias: requests and responses
    pb2_grpc: str  # its _pb2_grpc alias: the servicer and stub
    tensor_pb2: str  # the alias of the module holding Tensor, DataType, Parameter
    datatype_prefix: str  # DATA_TYPE_: a DataType value's name minus it is the OIP string
    metadata_has_device: bool  # GetModelMetadataResponse.device exists
    model_repository: str = MODEL_REPOSITORY


def extend(view: ServiceView, model: Model) -> ServiceView:
    """The service view with its `inference` view; UsageError when the service lacks
    the inference shape."""
    methods = {m.name: m for m in view.methods}
    problems = [
        f"{name} ({kind.value})"
        for name, kind in RPCS.items()
        if name not in methods or methods[name].kind is not kind
    ]
    if problems:
        raise UsageError(
            f"--template gpu-inference: {view.service} lacks the RPC(s) "
            f"{', '.join(problems)} of an inference service (the shape of {_SHAPE})"
        )
    predict = methods["Predict"].request
    tensor = _field_type(model, predict.full_name, "inputs")
    datatype = _field_type(model, tensor.full_name, "datatype")
    # buf's STANDARD lint names the zero value <PREFIX>UNSPECIFIED.
    zero = next(model.children(datatype, Kind.ENUM_VALUE)).name
    if not zero.endswith(_ZERO):
        raise UsageError(
            f"--template gpu-inference: {datatype.full_name}'s zero value {zero} does not "
            f"end in {_ZERO}, so its datatype names cannot be read off (the shape of {_SHAPE})"
        )
    prefix = zero.removesuffix(_ZERO)
    metadata = model.by_name[methods["GetModelMetadata"].response.full_name]
    has_device = any(f.name == "device" for f in model.children(metadata, Kind.FIELD))
    tensor_module = f"{python_names.module_name(tensor.file.name)}_pb2"
    package, _, name = tensor_module.rpartition(".")
    by_module = {f"{i.package}.{i.module}" if i.package else i.module: i for i in view.imports}
    pb2 = predict.alias
    grpc_alias = view.stub.rpartition(".")[0]
    tensor_import = by_module.get(tensor_module) or Import(package, name, name)
    imports = {i.line: i for i in (*view.imports, tensor_import)}
    return replace(
        view,
        imports=tuple(imports[k] for k in sorted(imports)),
        runtime_requirement=_with_extra(RUNTIME_REQUIREMENT, RUNTIME_EXTRA),
        runtime_extra=RUNTIME_EXTRA,
        startup_budget_s=STARTUP_BUDGET_S,
        inference=InferenceView(
            pb2=pb2,
            pb2_grpc=grpc_alias,
            tensor_pb2=tensor_import.alias,
            datatype_prefix=prefix,
            metadata_has_device=has_device,
        ),
    )


def _field_type(model: Model, message: str, field: str) -> Element:
    element = model.by_name[message]
    for child in model.children(element, Kind.FIELD):
        if child.name == field:
            resolved = model.resolve(child.proto.type_name)
            if resolved is not None:
                return resolved
    raise UsageError(
        f"--template gpu-inference: {message} has no message or enum field {field!r} "
        f"(the shape of {_SHAPE})"
    )


def _with_extra(requirement: str, extra: str) -> str:
    """contracts-runtime==0.1.0 -> contracts-runtime[inference]==0.1.0"""
    name, _, version = requirement.partition("==")
    return f"{name}[{extra}]=={version}"
