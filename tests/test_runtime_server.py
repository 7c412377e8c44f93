"""The runtime's Server in-process, as a service's own tests use it: start, ready, call,
drain, stop; and a registration that names no known service."""

from __future__ import annotations

import asyncio
import re

import grpc
import pytest
from contracts_runtime import Server, Service, Settings
from fleet.tasks.v1 import task_service_pb2 as tasks
from fleet.tasks.v1 import task_service_pb2_grpc as tasks_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


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
