"""The naive inference server bench/inference_servers.py compares against: the common
hand-rolled one. A synchronous grpcio server on a thread pool implements
fleet.inference.v1 Predict (and GetModelReady, for the start-up wait) over the same
TorchScript files as the other servers, one forward pass per request, under
`torch.inference_mode()`. No batching, no queue bound, no deadlines. Benchmark use only.

    python bench/inference_naive.py --port N --repository PATH [--threads 10]
        [--cpu-threads N] [--stack sync|aio]

--stack aio serves the same handler on a bare grpc.aio server instead, the forward pass
on the event loop: with a trivial model, the most calls a grpc.aio process answers (its
floor per call), which bench/inference_servers.py holds our server to. Never a way to
serve a real model: each pass blocks the loop.

--cpu-threads sets torch's intra-op threads in each pool thread (the count is per
calling thread); 0 keeps torch's default, the machine's cores.

It serves every model of a model repository (the runtime's format: <model>/config.toml
and <model>/<version>/model.pt) whose one input and one output are FP32.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import signal
import threading
import tomllib
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import torch
from fleet.inference.v1 import inference_service_pb2 as inference
from fleet.inference.v1 import inference_service_pb2_grpc as inference_grpc
from fleet.inference.v1 import tensor_pb2

FP32 = tensor_pb2.DataType.DATA_TYPE_FP32


@dataclass(frozen=True)
class Model:
    module: torch.jit.ScriptModule
    input: str
    output: str


def load_models(repository: Path) -> dict[str, Model]:
    """Every TorchScript model of the repository whose tensors are FP32, by name."""
    models = {}
    for config_path in sorted(repository.glob("*/config.toml")):
        config = tomllib.loads(config_path.read_text())
        inputs, outputs = config.get("inputs", []), config.get("outputs", [])
        if config.get("platform") != "torchscript" or len(inputs) != 1 or len(outputs) != 1:
            continue
        if inputs[0]["dtype"] != "FP32" or outputs[0]["dtype"] != "FP32":
            continue
        versions = [p for p in config_path.parent.iterdir() if p.name.isdigit()]
        version = str(config.get("default_version", max(int(p.name) for p in versions)))
        weights = config_path.parent / version / "model.pt"
        module = torch.jit.load(str(weights)).eval()  # type: ignore[no-untyped-call]
        models[config["name"]] = Model(module, inputs[0]["name"], outputs[0]["name"])
    return models


class Refused(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        self.code, self.message = code, message


def answer(
    models: dict[str, Model], request: inference.PredictRequest
) -> inference.PredictResponse:
    """One forward pass for one request; Refused for an unknown model or tensor."""
    model = models.get(request.model_name)
    if model is None:
        raise Refused(grpc.StatusCode.NOT_FOUND, f"no model '{request.model_name}'")
    tensor = request.inputs[0]
    if tensor.name != model.input or tensor.datatype != FP32:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"expected FP32 '{model.input}'")
    # frombuffer needs a writable buffer; the copy is what any server makes.
    x = torch.frombuffer(bytearray(tensor.raw_data), dtype=torch.float32)
    with torch.inference_mode():
        y = model.module(x.reshape(tuple(tensor.shape))).contiguous()
    data = ctypes.string_at(y.data_ptr(), y.numel() * y.element_size())
    return inference.PredictResponse(
        model_name=request.model_name,
        outputs=[tensor_pb2.Tensor(name=model.output, datatype=FP32, shape=y.shape, raw_data=data)],
    )


class NaiveAio(inference_grpc.InferenceServiceServicer):
    """The same Predict on grpc.aio, run on the event loop."""

    def __init__(self, models: dict[str, Model]) -> None:
        self.models = models

    async def Predict(
        self, request: inference.PredictRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> inference.PredictResponse:
        try:
            return answer(self.models, request)
        except Refused as refused:
            await context.abort(refused.code, refused.message)
            raise

    async def GetModelReady(
        self,
        request: inference.GetModelReadyRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> inference.GetModelReadyResponse:
        return inference.GetModelReadyResponse(ready=request.model_name in self.models)

    # The rest of the service is out of the benchmark's scope.
    async def BatchPredict(
        self, request: inference.BatchPredictRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> inference.BatchPredictResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the naive server only predicts")
        raise AssertionError("unreachable: abort raises")

    async def PredictStream(
        self, request: inference.PredictStreamRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[inference.PredictStreamResponse]:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the naive server only predicts")
        yield inference.PredictStreamResponse()

    async def GetModelMetadata(
        self,
        request: inference.GetModelMetadataRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> inference.GetModelMetadataResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the naive server only predicts")
        raise AssertionError("unreachable: abort raises")


class Naive(inference_grpc.InferenceServiceServicer):
    def __init__(self, models: dict[str, Model]) -> None:
        self.models = models

    def Predict(
        self, request: inference.PredictRequest, context: grpc.ServicerContext
    ) -> inference.PredictResponse:
        try:
            return answer(self.models, request)
        except Refused as refused:
            context.abort(refused.code, refused.message)
            raise

    def GetModelReady(
        self, request: inference.GetModelReadyRequest, context: grpc.ServicerContext
    ) -> inference.GetModelReadyResponse:
        return inference.GetModelReadyResponse(ready=request.model_name in self.models)

    # The rest of the service is out of the benchmark's scope.
    def BatchPredict(
        self, request: inference.BatchPredictRequest, context: grpc.ServicerContext
    ) -> inference.BatchPredictResponse:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the naive server only predicts")

    def PredictStream(
        self, request: inference.PredictStreamRequest, context: grpc.ServicerContext
    ) -> Iterator[inference.PredictStreamResponse]:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the naive server only predicts")

    def GetModelMetadata(
        self, request: inference.GetModelMetadataRequest, context: grpc.ServicerContext
    ) -> inference.GetModelMetadataResponse:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the naive server only predicts")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=10, help="the thread pool's size")
    parser.add_argument("--cpu-threads", type=int, default=0, help="torch threads per pool thread")
    parser.add_argument("--stack", choices=("sync", "aio"), default="sync")
    args = parser.parse_args()
    models = load_models(args.repository)
    if args.stack == "aio":
        if args.cpu_threads:
            torch.set_num_threads(args.cpu_threads)
        return asyncio.run(serve_aio(models, args.port))
    pool = (
        futures.ThreadPoolExecutor(
            args.threads, initializer=torch.set_num_threads, initargs=(args.cpu_threads,)
        )
        if args.cpu_threads
        else futures.ThreadPoolExecutor(args.threads)
    )
    server = grpc.server(pool)
    inference_grpc.add_InferenceServiceServicer_to_server(Naive(models), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    server.stop(grace=5).wait()
    return 0


async def serve_aio(models: dict[str, Model], port: int) -> int:
    server = grpc.aio.server()
    inference_grpc.add_InferenceServiceServicer_to_server(NaiveAio(models), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    await stopped.wait()
    await server.stop(grace=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
