"""The per-call log line in-process: the line spliced without `logging` is byte for byte
the formatter's, lines keep their order, `logging` still gets the line where someone else
listens, and the request id is found one level down, decided once per method."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from contracts_runtime import Server, Service, Settings, calls, logs
from contracts_runtime.request_ids import MAX_ITEM_IDS, find_request_id
from fleet.adapter.v1 import adapter_service_pb2 as adapter
from fleet.inference.v1 import inference_service_pb2 as inference
from fleet.inference.v1 import inference_service_pb2_grpc as inference_grpc

SETTINGS = Settings(host="127.0.0.1", port=0, metrics_port=0)
SERVICE = "fleet.inference.v1.InferenceService"
AWKWARD_ID = 'a "quoted" \\ back\nslash \u00e9 \u2603 \x01'


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The runtime's logging set up on a string stream; the root logger restored after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    logs.configure("info", "json", stream=out, process={"worker": 3})
    yield out
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logs.configure("info", "json", stream=io.StringIO())  # no process fields left behind
    root.removeHandler(root.handlers[-1])


def runtime_handler_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root's handlers as in a service process: pytest adds its own for each test."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, logs.RuntimeHandler)]
    monkeypatch.setattr(root, "handlers", ours)


def formatter_line(call: dict[str, object], own: dict[str, object], level: int) -> str:
    """What `logging` and JsonFormatter write for the same call."""
    record = logging.LogRecord(calls.ACCESS_LOG.name, level, __file__, 1, calls.FINISHED, (), None)
    record.fields = own
    token = logs.CALL_FIELDS.set(call)
    try:
        return logs.JsonFormatter().format(record) + "\n"
    finally:
        logs.CALL_FIELDS.reset(token)


def without_time(line: str) -> str:
    return re.sub(r'^\{"time": "[0-9T:.-]+Z", ', '{"time": "T", ', line)


@pytest.mark.parametrize(
    ("request_id", "key"),
    [(None, "request_id"), ("req-42", "request_id"), (AWKWARD_ID, "request_id"),
     (["b-1", AWKWARD_ID], "request_ids")],
)  # fmt: skip
def test_the_spliced_line_is_the_formatters_line(
    stream: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    request_id: str | list[str] | None,
    key: str,
) -> None:
    runtime_handler_only(monkeypatch)
    fields = {"grpc.service": SERVICE, "grpc.method": "Predict"}
    line = logs.CallLine(calls.ACCESS_LOG.name, calls.FINISHED, fields, "unary")
    handler = logs.call_line_handler(calls.ACCESS_LOG, logging.WARNING)
    assert handler is not None
    spliced = line.format(handler.process, "WARNING", request_id, key, "Unavailable", 1.25)
    call = {**fields, key: request_id} if request_id else fields
    own = {"grpc.method_type": "unary", "grpc.code": "Unavailable", "grpc.time_ms": 1.25}
    expected = formatter_line(call, own, logging.WARNING)
    assert without_time(spliced) == without_time(expected) != expected
    parsed = json.loads(spliced)
    assert parsed["worker"] == 3
    if request_id:
        assert parsed[key] == request_id


class Inference(inference_grpc.InferenceServiceServicer):
    async def Predict(
        self, request: inference.PredictRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> inference.PredictResponse:
        logging.getLogger("handler").info("predicting")
        return inference.PredictResponse(request_id=request.request_id)

    async def PredictStream(
        self, request: inference.PredictStreamRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[inference.PredictStreamResponse]:
        yield inference.PredictStreamResponse(final=True)


def inference_service() -> Service:
    return Service(SERVICE, inference_grpc.add_InferenceServiceServicer_to_server, Inference())


async def call_each(server: Server) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = inference_grpc.InferenceServiceStub(channel)
        for n in range(3):
            await stub.Predict(inference.PredictRequest(request_id=f"p-{n}"), timeout=5)
        for n in range(3):
            nested = inference.PredictStreamRequest(request={"request_id": f"s-{n}"})
            assert [r.final async for r in stub.PredictStream(nested, timeout=5)] == [True]
        items = [{"request_id": f"b-{n}"} for n in range(MAX_ITEM_IDS + 2)]
        batch = inference.BatchPredictRequest(requests=[*items, {"model_name": "no id"}])
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.BatchPredict(batch, timeout=5)


def serve_and_call() -> None:
    async def run() -> None:
        server = Server([inference_service()], SETTINGS)
        await server.start()
        await server.ready()
        await call_each(server)
        await server.drain(grace=5)
        await server.stop()

    asyncio.run(asyncio.wait_for(run(), 30))


def finished_lines(text: str) -> list[dict[str, Any]]:
    lines = [json.loads(raw) for raw in text.splitlines()]
    return [line for line in lines if line["msg"] == calls.FINISHED]


def test_call_lines_skip_logging_keep_their_order_and_carry_nested_ids(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_record(*args: object, **kwargs: object) -> None:
        raise AssertionError("the call line went through logging")

    runtime_handler_only(monkeypatch)
    monkeypatch.setattr(calls.ACCESS_LOG, "log", no_record)
    serve_and_call()
    lines = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    messages = [(line["msg"], line.get("request_id")) for line in lines if line.get("grpc.method")]
    # The handler's own line, then its call's line: the queued line does not overtake.
    predicts = [m for m in messages if m[1] and m[1].startswith("p-")]
    assert predicts == [
        ("predicting", "p-0"),
        (calls.FINISHED, "p-0"),
        ("predicting", "p-1"),
        (calls.FINISHED, "p-1"),
        ("predicting", "p-2"),
        (calls.FINISHED, "p-2"),
    ]
    by_method = {
        method: [
            line for line in finished_lines(stream.getvalue()) if line["grpc.method"] == method
        ]
        for method in ("Predict", "PredictStream", "BatchPredict")
    }
    assert [line["request_id"] for line in by_method["PredictStream"]] == ["s-0", "s-1", "s-2"]
    assert all(line["grpc.code"] == "OK" for line in by_method["PredictStream"])
    (batch,) = by_method["BatchPredict"]
    # The items' ids (the first MAX_ITEM_IDS), the item without one left out.
    assert batch["request_ids"] == [f"b-{n}" for n in range(MAX_ITEM_IDS)]
    assert batch["grpc.code"] == "Unimplemented" and batch["level"] == "ERROR"
    assert batch["worker"] == 3


def test_another_listener_gets_the_call_lines_through_logging(
    stream: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        serve_and_call()
    records = [r for r in caplog.records if r.getMessage() == calls.FINISHED]
    assert len(records) == 7
    assert all(getattr(r, "fields", {}).get("grpc.method_type") for r in records)
    # The runtime's handler formatted the same records.
    assert len(finished_lines(stream.getvalue())) == 7


def test_the_request_id_place_is_decided_once_per_method(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    decided: list[str] = []

    def counting(descriptor: Any) -> Any:
        decided.append(descriptor.full_name)
        return find_request_id(descriptor)

    monkeypatch.setattr(calls, "find_request_id", counting)
    serve_and_call()
    assert sorted(decided) == [
        "fleet.inference.v1.BatchPredictRequest",
        "fleet.inference.v1.PredictRequest",
        "fleet.inference.v1.PredictStreamRequest",
    ]


@pytest.mark.parametrize(
    ("message", "key", "expected"),
    [
        (inference.PredictRequest(request_id="own"), "request_id", "own"),
        (adapter.CallRequest(request_id="own"), "request_id", "own"),
        (inference.PredictStreamRequest(request={"request_id": "inner"}), "request_id", "inner"),
        (inference.PredictStreamRequest(), "request_id", None),
        (
            inference.BatchPredictRequest(requests=[{"request_id": "1"}, {}, {"request_id": "3"}]),
            "request_ids",
            ["1", "3"],
        ),
        (inference.BatchPredictRequest(), "request_ids", None),
        (inference.GetModelReadyRequest(model_name="m"), "request_id", None),
        # Two levels down is not searched: a response type holds a PredictResponse.
        (inference.BatchPredictResponse(), "request_id", None),
    ],
)
def test_where_the_request_id_is(message: Any, key: str, expected: object) -> None:
    found = find_request_id(message.DESCRIPTOR)
    assert found.key == key
    assert found.read(message) == expected


def test_a_request_that_is_not_a_message_has_no_id() -> None:
    assert find_request_id(None).read(b"raw bytes") is None


def test_queued_lines_are_written_soon_in_batches_and_at_stop(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime_handler_only(monkeypatch)
    handler = logs.call_line_handler(calls.ACCESS_LOG, logging.INFO)
    assert handler is not None

    async def run() -> list[int]:
        seen = []
        handler.queue("one\n")
        seen.append(stream.getvalue().count("\n"))  # queued, not written yet
        await asyncio.sleep(logs.WRITE_EVERY_S * 4)
        seen.append(stream.getvalue().count("\n"))  # written by the timer
        for _ in range(logs.WRITE_AT_LINES):
            handler.queue("many\n")
        seen.append(stream.getvalue().count("\n"))  # a full queue is written at once
        handler.queue("last\n")
        logs.flush()
        seen.append(stream.getvalue().count("\n"))
        return seen

    assert asyncio.run(run()) == [0, 1, 1 + logs.WRITE_AT_LINES, 2 + logs.WRITE_AT_LINES]
