"""inference in-process over a real channel, on a throwaway model repository built
here with torch: `affine` (x -> 2x + 1, batching) and `counter` (a generating model
whose next token is the last one plus 1). Health after warm-up and every RPC, with
the errors the contract names. Every wait is bounded.

Replace these models with yours, and keep the checks.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
import torch
from contracts_runtime import Server, Settings
from contracts_runtime.inference import ModelRepository
from fleet.inference.v1 import inference_service_pb2, inference_service_pb2_grpc, tensor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inference.server import SERVICE, services
from inference.settings import InferenceSettings

TIMEOUT_S = 10.0
Check = Callable[[grpc.aio.Channel], Awaitable[None]]
FP32 = tensor_pb2.DATA_TYPE_FP32
INT64 = tensor_pb2.DATA_TYPE_INT64

AFFINE = """name = "affine"
platform = "torchscript"
max_batch_size = 8

[[inputs]]
name = "x"
dtype = "FP32"
dims = [2]

[[outputs]]
name = "y"
dtype = "FP32"
dims = [2]
"""
COUNTER = """name = "counter"
platform = "torchscript"
kind = "generate"
max_batch_size = 0

[[inputs]]
name = "prompt"
dtype = "INT64"
dims = [-1]

[[outputs]]
name = "tokens"
dtype = "INT64"
dims = [-1]

[generate]
max_tokens = 3
"""


class Affine(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 + 1.0


class Counter(torch.nn.Module):
    """Next-token logits [1, 16] whose argmax is the last token plus 1."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot((ids[:, -1] + 1) % 16, 16).float()


def model_repository(root: Path) -> Path:
    for name, config, module in (("affine", AFFINE, Affine()), ("counter", COUNTER, Counter())):
        (root / name / "1").mkdir(parents=True)
        (root / name / "config.toml").write_text(config, encoding="utf-8")
        torch.jit.save(torch.jit.script(module), str(root / name / "1" / "model.pt"))
    return root


@pytest.fixture
def serve(tmp_path: Path) -> Callable[[Check], None]:
    """Start the service on a free port over the test's repository, warm it up, run
    `check` against it, stop it."""

    def run(check: Check) -> None:
        async def main() -> None:
            settings = InferenceSettings(model_repository=model_repository(tmp_path), device="cpu")
            repository = ModelRepository.load(settings.model_repository, device=settings.device)
            server = Server(
                services(repository, settings), Settings(host="127.0.0.1", port=0, metrics_port=0)
            )
            await server.start()
            try:
                await repository.warm_up()
                await server.ready()
                async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                    await check(channel)
            finally:
                await server.stop()
                await repository.close()

        asyncio.run(asyncio.wait_for(main(), 3 * TIMEOUT_S))

    return run


def floats(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def affine_request(*values: float, name: str = "x") -> inference_service_pb2.PredictRequest:
    tensor = tensor_pb2.Tensor(
        name=name, datatype=FP32, shape=[len(values) // 2, 2], raw_data=floats(*values)
    )
    return inference_service_pb2.PredictRequest(
        model_name="affine",
        request_id="r1",
        inputs=[tensor],
    )


def test_health_is_serving_after_warm_up(serve: Callable[[Check], None]) -> None:
    async def check(channel: grpc.aio.Channel) -> None:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            request = health_pb2.HealthCheckRequest(service=name)
            reply = await stub.Check(request, timeout=TIMEOUT_S)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

    serve(check)


def test_predict(serve: Callable[[Check], None]) -> None:
    async def check(channel: grpc.aio.Channel) -> None:
        stub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        reply = await stub.Predict(affine_request(1, 2, 3, 4), timeout=TIMEOUT_S)
        assert (reply.model_name, reply.model_version, reply.request_id) == ("affine", "1", "r1")
        [y] = reply.outputs
        assert (y.name, y.datatype, list(y.shape)) == ("y", FP32, [2, 2])
        assert y.raw_data == floats(3, 5, 7, 9)

    serve(check)


def test_batch_predict_answers_each_item(serve: Callable[[Check], None]) -> None:
    async def check(channel: grpc.aio.Channel) -> None:
        stub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        batch = inference_service_pb2.BatchPredictRequest(
            requests=[affine_request(0, 1), affine_request(0, 1, name="z"), affine_request(2, 2)]
        )
        reply = await stub.BatchPredict(batch, timeout=TIMEOUT_S)
        first, bad, last = reply.results
        assert first.response.outputs[0].raw_data == floats(1, 3)
        assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "'z'" in bad.error.message
        assert last.response.outputs[0].raw_data == floats(5, 5)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.BatchPredict(inference_service_pb2.BatchPredictRequest(), timeout=TIMEOUT_S)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    serve(check)


def test_predict_stream_to_the_final_piece(serve: Callable[[Check], None]) -> None:
    async def check(channel: grpc.aio.Channel) -> None:
        stub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        prompt = tensor_pb2.Tensor(
            name="prompt", datatype=INT64, shape=[1], raw_data=struct.pack("<q", 3)
        )
        request = inference_service_pb2.PredictStreamRequest(
            request=inference_service_pb2.PredictRequest(model_name="counter", inputs=[prompt])
        )
        pieces = [piece async for piece in stub.PredictStream(request, timeout=TIMEOUT_S)]
        assert [p.sequence_number for p in pieces] == [0, 1, 2, 3]
        assert [p.final for p in pieces] == [False, False, False, True]
        tokens = [struct.unpack("<q", p.response.outputs[0].raw_data)[0] for p in pieces[:3]]
        assert tokens == [4, 5, 6]

    serve(check)


def test_model_metadata_and_readiness(serve: Callable[[Check], None]) -> None:
    async def check(channel: grpc.aio.Channel) -> None:
        stub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        meta = await stub.GetModelMetadata(
            inference_service_pb2.GetModelMetadataRequest(model_name="affine"), timeout=TIMEOUT_S
        )
        assert (meta.name, list(meta.versions), meta.platform) == (
            "affine",
            ["1"],
            "pytorch_torchscript",
        )
        assert meta.device == "cpu"
        assert [(t.name, list(t.shape)) for t in meta.inputs] == [("x", [-1, 2])]
        ready = await stub.GetModelReady(
            inference_service_pb2.GetModelReadyRequest(model_name="affine"), timeout=TIMEOUT_S
        )
        assert ready.ready

    serve(check)


def test_errors_name_what_is_wrong(serve: Callable[[Check], None]) -> None:
    async def check(channel: grpc.aio.Channel) -> None:
        stub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Predict(affine_request(1, 2, 3), timeout=TIMEOUT_S)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "'x'" in str(error.value.details())
        unknown = inference_service_pb2.PredictRequest(model_name="nope")
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Predict(unknown, timeout=TIMEOUT_S)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND

    serve(check)
