"""The grpc.aio server of a service: built from the generated registrations, with the
runtime's interceptor, health and reflection; started, made ready, drained, stopped."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pool

from contracts_runtime import health, logs, ports, reflection
from contracts_runtime.calls import Drain, Interceptor
from contracts_runtime.options import server_options
from contracts_runtime.settings import Settings

_LOG = logging.getLogger("contracts_runtime")

# After the accepted calls finished: time for their statuses to reach the wire. Open
# health watches are then cancelled, as they never end on their own.
STATUS_FLUSH_SECONDS = 0.5


@dataclass(frozen=True)
class Service:
    """One generated service to serve: `Service("fleet.tasks.v1.TaskService",
    task_service_pb2_grpc.add_TaskServiceServicer_to_server, TaskService())`."""

    name: str
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: object


class PortInUse(Exception):
    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.address = address


def _check_names(services: Sequence[Service]) -> list[str]:
    names = [s.name for s in services]
    pool = descriptor_pool.Default()
    for name in names:
        try:
            pool.FindServiceByName(name)
        except KeyError:
            raise ValueError(
                f"service {name!r} is not a known protobuf service; pass its full name "
                "(package.Service) and import its generated _pb2_grpc module"
            ) from None
    if len(set(names)) != len(names):
        raise ValueError(f"a service is registered twice: {sorted(names)}")
    return names


class Server:
    def __init__(
        self, services: Sequence[Service], settings: Settings, *, share_port: bool = False
    ) -> None:
        names = _check_names(services)
        self.settings = settings
        self._shares_port = share_port
        self.port = 0
        self.calls = Drain()
        self.health = health.Health(names)
        self._server = grpc.aio.server(
            interceptors=[Interceptor(self.calls, names)],
            options=server_options(settings, share_port=share_port),
        )
        for service in services:
            service.add_to_server(service.servicer, self._server)
        self.health.add_to(self._server)
        reflection.add_to(self._server, [*names, health.SERVICE_NAME])

    async def start(self) -> None:
        """Bind and accept calls; health says NOT_SERVING until `ready`."""
        address = f"{self.settings.host}:{self.settings.port}"
        if self.settings.port and not self._shares_port:
            try:
                ports.check_free(self.settings.host, self.settings.port)
            except OSError as e:
                raise PortInUse(f"{address} ({e.strerror})") from e
        try:
            self.port = self._server.add_insecure_port(address)
        except RuntimeError as e:
            raise PortInUse(address) from e
        if self.port == 0:  # older grpcio reports a failed bind as port 0
            raise PortInUse(address)
        await self.health.not_serving()
        await self._server.start()

    async def ready(self) -> None:
        await self.health.serving()

    async def drain(self, grace: float) -> bool:
        """NOT_SERVING, refuse new application calls with UNAVAILABLE, and wait up to
        `grace` seconds for the accepted ones; False when some were still running."""
        await self.health.draining()
        self.calls.begin()
        return await self.calls.wait_idle(grace)

    async def stop(self) -> None:
        """Stop listening, cancel what still runs (health watches, overdue calls), and
        write the call lines still queued."""
        await self._server.stop(STATUS_FLUSH_SECONDS)
        logs.flush()
