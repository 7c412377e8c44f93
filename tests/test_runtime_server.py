"""The runtime's Server in-process, as a service's own tests use it: start, ready, call,
drain, stop; and a registration that names no known service."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from contracts_runtime import Server, Service, Settings
from fleet.inference.v1 import inference_service_pb2
from fleet.tasks.v1 import task_service_pb2 as tasks
from fleet.tasks.v1 import task_service_pb2_grpc as tasks_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY


class Echo(tasks_grpc.TaskServiceServicer):
    async def SubmitTask(
        self, request: tasks.SubmitTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks.SubmitTaskResponse:
        return tasks.SubmitTaskResponse(task_id=request.task.task_id)


def echo(name: str = "fleet.tasks.v1.TaskService") -> Service:
    return Service(name, tasks_grpc.add_TaskServiceServicer_to_server, Echo())


SETTINGS = Settings(host="127.0.0.1", port=0, metrics_port=0)


def test_server_steps_in_process() -> None:
    async def steps() -> list[str]:
        server = Server([echo()], SETTINGS)
        await server.start()
        seen = []
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            check = health_pb2.HealthCheckRequest(service="fleet.tasks.v1.TaskService")
            seen.append(
                health_pb2.HealthCheckResponse.ServingStatus.Name(
                    (await health.Check(check)).status
                )
            )
            await server.ready()
            seen.append(
                health_pb2.HealthCheckResponse.ServingStatus.Name(
                    (await health.Check(check)).status
                )
            )
            reply = await tasks_grpc.TaskServiceStub(channel).SubmitTask(
                tasks.SubmitTaskRequest(task={"task_id": "t1"}), timeout=5
            )
            seen.append(reply.task_id)
            assert await server.drain(grace=5)
            seen.append(
                health_pb2.HealthCheckResponse.ServingStatus.Name(
                    (await health.Check(check)).status
                )
            )
        await server.stop()
        return seen

    assert asyncio.run(asyncio.wait_for(steps(), 30)) == [
        "NOT_SERVING",
        "SERVING",
        "t1",
        "NOT_SERVING",
    ]


def test_an_unknown_service_name_is_refused() -> None:
    async def build() -> None:
        Server([echo("fleet.tasks.v1.TaskServce")], SETTINGS)

    with pytest.raises(
        ValueError, match=re.escape("'fleet.tasks.v1.TaskServce' is not a known protobuf service")
    ):
        asyncio.run(build())


# Every RPC kind, in each handler style the interceptor wraps: coroutine, async
# generator, context.read()/write(), and plain functions (run in a thread).
SERVICE = "fleet.inference.v1.InferenceService"  # a known name; the methods are ours
assert inference_service_pb2.DESCRIPTOR  # imported: registers the name


async def _unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


def _unary_sync(request: bytes, context: object) -> bytes:
    return request.upper()


async def _server_stream(request: bytes, context: object) -> AsyncIterator[bytes]:
    for _ in range(3):
        yield request


def _server_stream_sync(request: bytes, context: object) -> Iterator[bytes]:
    yield from (request, request)


async def _client_stream(requests: AsyncIterator[bytes], context: object) -> bytes:
    return b"".join([r async for r in requests])


async def _bidi(requests: AsyncIterator[bytes], context: object) -> AsyncIterator[bytes]:
    async for request in requests:
        yield request


async def _bidi_writes(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> None:
    async for request in requests:
        await context.write(request)
    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "done")


def _add_every_kind(servicer: object, server: grpc.aio.Server) -> None:
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary),
        "UnarySync": grpc.unary_unary_rpc_method_handler(_unary_sync),
        "ServerStream": grpc.unary_stream_rpc_method_handler(_server_stream),
        "ServerStreamSync": grpc.unary_stream_rpc_method_handler(_server_stream_sync),
        "ClientStream": grpc.stream_unary_rpc_method_handler(_client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(_bidi),
        "BidiWrites": grpc.stream_stream_rpc_method_handler(_bidi_writes),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


def handled(method: str, kind: str, code: str) -> float | None:
    return REGISTRY.get_sample_value(
        "grpc_server_handled_total",
        {"grpc_service": SERVICE, "grpc_method": method, "grpc_type": kind, "grpc_code": code},
    )


def test_every_rpc_kind_is_observed() -> None:
    async def calls() -> list[object]:
        server = Server([Service(SERVICE, _add_every_kind, None)], SETTINGS)
        await server.start()
        await server.ready()
        results: list[object] = []
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            path = f"/{SERVICE}/"
            results.append(await channel.unary_unary(path + "Unary")(b"a", timeout=5))
            results.append(await channel.unary_unary(path + "UnarySync")(b"b", timeout=5))
            results.append(
                [r async for r in channel.unary_stream(path + "ServerStream")(b"c", timeout=5)]
            )
            results.append(
                [r async for r in channel.unary_stream(path + "ServerStreamSync")(b"d", timeout=5)]
            )
            results.append(
                await channel.stream_unary(path + "ClientStream")(iter([b"e", b"f"]), timeout=5)
            )
            results.append(
                [
                    r
                    async for r in channel.stream_stream(path + "Bidi")(
                        iter([b"g", b"h"]), timeout=5
                    )
                ]
            )
            with pytest.raises(grpc.aio.AioRpcError) as aborted:
                async for _ in channel.stream_stream(path + "BidiWrites")(iter([b"i"]), timeout=5):
                    pass
            results.append(aborted.value.code())
        await server.drain(grace=5)
        await server.stop()
        return results

    assert asyncio.run(asyncio.wait_for(calls(), 30)) == [
        b"a",
        b"B",
        [b"c"] * 3,
        [b"d"] * 2,
        b"ef",
        [b"g", b"h"],
        grpc.StatusCode.FAILED_PRECONDITION,
    ]
    assert handled("Unary", "unary", "OK") == 1
    assert handled("UnarySync", "unary", "OK") == 1
    assert handled("ServerStream", "server_stream", "OK") == 1
    assert handled("ServerStreamSync", "server_stream", "OK") == 1
    assert handled("ClientStream", "client_stream", "OK") == 1
    assert handled("Bidi", "bidi_stream", "OK") == 1
    assert handled("BidiWrites", "bidi_stream", "FailedPrecondition") == 1
    received = {
        "grpc_service": SERVICE,
        "grpc_method": "ClientStream",
        "grpc_type": "client_stream",
    }
    assert REGISTRY.get_sample_value("grpc_server_msg_received_total", received) == 2
    sent = {"grpc_service": SERVICE, "grpc_method": "ServerStream", "grpc_type": "server_stream"}
    assert REGISTRY.get_sample_value("grpc_server_msg_sent_total", sent) == 3


def test_counted_metrics_expose_the_series_prometheus_client_would() -> None:
    labels = {"grpc_service": "fleet.tasks.v1.TaskService", "grpc_method": "SubmitTask"}
    unary = {**labels, "grpc_type": "unary"}

    def value(name: str, **extra: str) -> float:
        return REGISTRY.get_sample_value(name, {**unary, **extra}) or 0.0

    names = [
        ("grpc_server_started_total", {}),
        ("grpc_server_handled_total", {"grpc_code": "OK"}),
        ("grpc_server_msg_received_total", {}),
        ("grpc_server_msg_sent_total", {}),
        ("grpc_server_handling_seconds_count", {}),
        ("grpc_server_handling_seconds_bucket", {"le": "+Inf"}),
    ]
    before = [value(name, **extra) for name, extra in names]

    async def calls() -> None:
        server = Server([echo()], SETTINGS)
        await server.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = tasks_grpc.TaskServiceStub(channel)
            for n in range(4):
                await stub.SubmitTask(tasks.SubmitTaskRequest(task={"task_id": f"t{n}"}), timeout=5)
        await server.stop()

    asyncio.run(asyncio.wait_for(calls(), 30))
    after = [value(name, **extra) for name, extra in names]
    assert [a - b for a, b in zip(after, before, strict=True)] == [4.0] * len(names)
    # Cumulative buckets, in prometheus-client's `le` spelling; created timestamps.
    buckets = [
        value("grpc_server_handling_seconds_bucket", le=le)
        for le in ("0.005", "0.01", "0.1", "1.0", "10.0", "+Inf")
    ]
    assert buckets == sorted(buckets) and buckets[-1] == after[-1]
    assert value("grpc_server_handling_seconds_sum") > 0
    assert value("grpc_server_started_created") > 0
    assert value("grpc_server_handling_seconds_created") > 0
    assert value("grpc_server_in_flight_requests") == 0
