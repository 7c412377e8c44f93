"""The standard grpc.health.v1 service, per registered service and overall ("").

Everything starts NOT_SERVING; `serving()` flips it once start-up and warm-up are done;
`draining()` turns it NOT_SERVING for good (later `serving()` calls are ignored), which
also tells every open Watch stream, so clients that health-check their connections
(the generated Go clients do) stop sending new calls here.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

SERVICE_NAME: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
OVERALL = ""


class Health:
    def __init__(self, services: Iterable[str]) -> None:
        self._servicer = health_aio.HealthServicer()
        self._names = (OVERALL, *services)

    def add_to(self, server: grpc.aio.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, server)  # type: ignore[no-untyped-call]

    async def not_serving(self) -> None:
        # The servicer starts with "" SERVING; nothing is ready until warm-up ran.
        for name in self._names:
            await self._servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    async def serving(self) -> None:
        for name in self._names:
            await self._servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def draining(self) -> None:
        await self._servicer.enter_graceful_shutdown()
