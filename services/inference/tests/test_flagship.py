"""The flagship on its demo models (built here from the fixed seed, with the test-only
`slow` model) in-process over a real channel: the classifier (TorchScript and state
dict alike), batch predict with a bad item, streamed generation to the final piece and
a client cancelling mid-stream, a deadline expiring while queued never reaching the
model, a full queue, oversized messages, limits, metadata. Every wait is bounded."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from contracts_runtime import Server, Settings
from contracts_runtime.inference import ModelRepository
from fleet.inference.v1 import inference_service_pb2 as pb
from fleet.inference.v1 import inference_service_pb2_grpc as pb_grpc
from fleet.inference.v1 import tensor_pb2

from inference.build import build_repository
from inference.server import services
from inference.settings import InferenceSettings

TIMEOUT_S = 20.0
FP32 = tensor_pb2.DATA_TYPE_FP32
INT64 = tensor_pb2.DATA_TYPE_INT64
IMAGE_FLOATS = 3 * 32 * 32


@dataclass
class Running:
    stub: pb_grpc.InferenceServiceAsyncStub
    repository: ModelRepository


Check = Callable[[Running], Awaitable[None]]


@pytest.fixture(scope="module")
def demo_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "repository"
    build_repository(path, test_models=True)
    return path


@pytest.fixture
def serve(demo_repository: Path) -> Callable[..., None]:
    def run(check: Check, **server: object) -> None:
        async def main() -> None:
            settings = InferenceSettings(
                model_repository=demo_repository, device="cpu", max_batch_items=8
            )
            repository = ModelRepository.load(demo_repository, device="cpu")
            runtime = Settings(host="127.0.0.1", port=0, metrics_port=0, **server)  # type: ignore[arg-type]
            grpc_server = Server(services(repository, settings), runtime)
            await grpc_server.start()
            try:
                await repository.warm_up()
                await grpc_server.ready()
                async with grpc.aio.insecure_channel(
                    f"127.0.0.1:{grpc_server.port}",
                    options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
                ) as channel:
                    await check(Running(pb_grpc.InferenceServiceStub(channel), repository))
            finally:
                await grpc_server.stop()
                await repository.close()

        asyncio.run(asyncio.wait_for(main(), 4 * TIMEOUT_S))

    return run


def image_tensor(
    batch: int = 1, fill: float = 0.25, shape: list[int] | None = None
) -> tensor_pb2.Tensor:
    raw = struct.pack("<f", fill) * (batch * IMAGE_FLOATS)
    return tensor_pb2.Tensor(
        name="image", datatype=FP32, shape=shape or [batch, 3, 32, 32], raw_data=raw
    )


def classify(model: str = "classifier", **tensor: object) -> pb.PredictRequest:
    return pb.PredictRequest(model_name=model, request_id="c", inputs=[image_tensor(**tensor)])  # type: ignore[arg-type]


def x_tensor(*values: float) -> tensor_pb2.Tensor:
    return tensor_pb2.Tensor(
        name="x",
        datatype=FP32,
        shape=[1, len(values)],
        raw_data=struct.pack(f"<{len(values)}f", *values),
    )


def prompt(text: str) -> tensor_pb2.Tensor:
    ids = text.encode()
    return tensor_pb2.Tensor(
        name="prompt", datatype=INT64, shape=[len(ids)], raw_data=struct.pack(f"<{len(ids)}q", *ids)
    )


async def code_of(call: Awaitable[object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return error.value.code(), str(error.value.details())


def test_classifier_answers_alike_from_torchscript_and_state_dict(
    serve: Callable[..., None],
) -> None:
    async def check(run: Running) -> None:
        script = await run.stub.Predict(classify(batch=2), timeout=TIMEOUT_S)
        state = await run.stub.Predict(
            classify("classifier_state_dict", batch=2), timeout=TIMEOUT_S
        )
        [logits] = script.outputs
        assert (logits.name, list(logits.shape), len(logits.raw_data)) == ("logits", [2, 10], 80)
        assert script.model_version == "1"
        assert state.outputs[0].raw_data == logits.raw_data

    serve(check)


def test_concurrent_predicts_share_forward_passes(serve: Callable[..., None]) -> None:
    async def check(run: Running) -> None:
        before = run.repository.stats()[("classifier", "1")]
        replies = await asyncio.gather(
            *(run.stub.Predict(classify(), timeout=TIMEOUT_S) for _ in range(32))
        )
        after = run.repository.stats()[("classifier", "1")]
        assert all(len(r.outputs[0].raw_data) == 40 for r in replies)
        assert after.inference_count - before.inference_count == 32
        # Greedy batching: while one pass runs, the next requests gather into one.
        assert after.exec_count - before.exec_count < 32

    serve(check)


def test_batch_predict_reports_a_bad_item_and_answers_the_others(
    serve: Callable[..., None],
) -> None:
    async def check(run: Running) -> None:
        bad = classify(shape=[1, 3, 32, 31])
        reply = await run.stub.BatchPredict(
            pb.BatchPredictRequest(requests=[classify(), bad, classify("nope")]), timeout=TIMEOUT_S
        )
        ok, wrong, unknown = reply.results
        assert list(ok.response.outputs[0].shape) == [1, 10]
        assert wrong.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "input 'image'" in wrong.error.message and "[1, 3, 32, 31]" in wrong.error.message
        assert unknown.error.code == grpc.StatusCode.NOT_FOUND.value[0]
        empty = run.stub.BatchPredict(pb.BatchPredictRequest(), timeout=TIMEOUT_S)
        assert await code_of(empty) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "requests: the batch is empty",
        )
        over = run.stub.BatchPredict(
            pb.BatchPredictRequest(requests=[classify()] * 9), timeout=TIMEOUT_S
        )
        code, message = await code_of(over)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "limit of 8" in message

    serve(check)


def test_stream_numbers_pieces_to_the_final_one(serve: Callable[..., None]) -> None:
    async def check(run: Running) -> None:
        request = pb.PredictStreamRequest(
            request=pb.PredictRequest(
                model_name="textgen",
                request_id="s",
                inputs=[prompt("fleet")],
                parameters={"max_tokens": tensor_pb2.Parameter(int64_value=6)},
            )
        )
        pieces = [p async for p in run.stub.PredictStream(request, timeout=TIMEOUT_S)]
        assert [p.sequence_number for p in pieces] == list(range(7))
        assert [p.final for p in pieces] == [False] * 6 + [True]
        assert all(p.response.request_id == "s" and p.response.model_version == "1" for p in pieces)
        assert [len(p.response.outputs) for p in pieces] == [1] * 6 + [0]
        again = [p async for p in run.stub.PredictStream(request, timeout=TIMEOUT_S)]
        assert again == pieces  # greedy decoding is deterministic

    serve(check)


def test_a_client_cancelling_mid_stream_stops_the_generation(serve: Callable[..., None]) -> None:
    async def check(run: Running) -> None:
        request = pb.PredictStreamRequest(
            request=pb.PredictRequest(
                model_name="textgen",
                inputs=[prompt("a")],
                parameters={"max_tokens": tensor_pb2.Parameter(int64_value=100_000)},
            )
        )
        call = run.stub.PredictStream(request, timeout=TIMEOUT_S)
        pieces: AsyncIterator[pb.PredictStreamResponse] = call.__aiter__()
        await pieces.__anext__()
        call.cancel()
        stats = run.repository.stats

        async def settled() -> int:
            while stats()[("textgen", "1")].failure == 0:
                await asyncio.sleep(0.02)
            return stats()[("textgen", "1")].inference_count

        steps = await asyncio.wait_for(settled(), TIMEOUT_S)
        await asyncio.sleep(0.3)
        assert stats()[("textgen", "1")].inference_count == steps < 100_000

    serve(check)


def test_a_deadline_expiring_while_queued_never_reaches_the_model(
    serve: Callable[..., None],
) -> None:
    async def check(run: Running) -> None:
        slow = pb.PredictRequest(model_name="slow", inputs=[x_tensor(1, 2, 3, 4)])
        before = run.repository.stats()[("slow", "1")]
        first = asyncio.ensure_future(run.stub.Predict(slow, timeout=TIMEOUT_S))
        await asyncio.sleep(0.15)  # the first is in the model (500 ms a pass)
        code, _ = await code_of(run.stub.Predict(slow, timeout=0.15))
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        reply = await first
        assert reply.outputs[0].raw_data == x_tensor(1, 2, 3, 4).raw_data
        await asyncio.sleep(0.6)  # a pass the expired one would have had
        after = run.repository.stats()[("slow", "1")]
        assert after.inference_count - before.inference_count == 1
        assert after.failure - before.failure == 1

    serve(check)


def test_a_full_queue_is_resource_exhausted_at_once(serve: Callable[..., None]) -> None:
    async def check(run: Running) -> None:
        slow = pb.PredictRequest(model_name="slow", inputs=[x_tensor(0, 0, 0, 0)])
        # One in the model and a queue of 4: the sixth and later are refused.
        calls = [asyncio.ensure_future(run.stub.Predict(slow, timeout=TIMEOUT_S)) for _ in range(8)]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert refused and all(o.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for o in refused)
        assert len(outcomes) - len(refused) >= 4  # the queue, and maybe one in the model

    serve(check)


def test_invalid_tensors_are_named(serve: Callable[..., None]) -> None:
    async def check(run: Running) -> None:
        cases = {
            "datatype": image_tensor(),
            "bytes": image_tensor(),
            "unset": image_tensor(),
            "shape": image_tensor(shape=[1, 3, 16, 64]),
        }
        cases["datatype"].datatype = tensor_pb2.DATA_TYPE_FP64
        cases["bytes"].raw_data = cases["bytes"].raw_data[:-4]
        cases["unset"].datatype = tensor_pb2.DATA_TYPE_UNSPECIFIED
        for case, tensor in cases.items():
            request = pb.PredictRequest(model_name="classifier", inputs=[tensor])
            code, message = await code_of(run.stub.Predict(request, timeout=TIMEOUT_S))
            assert code == grpc.StatusCode.INVALID_ARGUMENT, case
            assert "input 'image'" in message, (case, message)
        unknown_output = classify()
        unknown_output.output_names.append("probabilities")
        code, message = await code_of(run.stub.Predict(unknown_output, timeout=TIMEOUT_S))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "'probabilities'" in message
        stray = classify()
        stray.parameters["temperature"].double_value = 0.5
        code, message = await code_of(run.stub.Predict(stray, timeout=TIMEOUT_S))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "temperature" in message

    serve(check)


def test_unknown_models_and_versions_are_not_found(serve: Callable[..., None]) -> None:
    async def check(run: Running) -> None:
        for request in (
            classify("nope"),
            pb.PredictRequest(model_name="classifier", model_version="7"),
        ):
            code, _ = await code_of(run.stub.Predict(request, timeout=TIMEOUT_S))
            assert code == grpc.StatusCode.NOT_FOUND
        code, _ = await code_of(
            run.stub.GetModelReady(pb.GetModelReadyRequest(model_name="nope"), timeout=TIMEOUT_S)
        )
        assert code == grpc.StatusCode.NOT_FOUND

    serve(check)


def test_metadata_reports_platform_and_device(serve: Callable[..., None]) -> None:
    async def check(run: Running) -> None:
        for name, platform in (
            ("classifier", "pytorch_torchscript"),
            ("classifier_state_dict", "pytorch_state_dict"),
        ):
            meta = await run.stub.GetModelMetadata(
                pb.GetModelMetadataRequest(model_name=name), timeout=TIMEOUT_S
            )
            assert (meta.platform, meta.device, list(meta.versions)) == (platform, "cpu", ["1"])
            assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [
                ("image", FP32, [-1, 3, 32, 32])
            ]
            assert [(t.name, list(t.shape)) for t in meta.outputs] == [("logits", [-1, 10])]
        ready = await run.stub.GetModelReady(
            pb.GetModelReadyRequest(model_name="textgen"), timeout=TIMEOUT_S
        )
        assert ready.ready

    serve(check)


def test_an_oversized_message_is_refused_by_the_runtime_limit(serve: Callable[..., None]) -> None:
    async def check(run: Running) -> None:
        # 32 images of 12 KiB: about 400 KiB, over a 256 KiB limit.
        code, _ = await code_of(run.stub.Predict(classify(batch=32), timeout=TIMEOUT_S))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        reply = await run.stub.Predict(classify(batch=4), timeout=TIMEOUT_S)
        assert list(reply.outputs[0].shape) == [4, 10]

    serve(check, max_message_bytes=256 * 1024)
