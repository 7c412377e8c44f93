"""Server reflection (grpcio-reflection's v1alpha servicer) that also finds methods.

The reflection protocol lets `file_containing_symbol` name a method
(`package.Service.Method`). grpcio-reflection looks every symbol up in the descriptor
pool, which indexes services and types but not methods, so it answers NOT_FOUND for
them. Clients that resolve a call's method that way, such as ghz, then fail against any
Python server ("Symbol not found"). Here a method of a served service is answered with
the file of its service, which is what the protocol asks for; the response still
echoes the client's own request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

SERVICE_NAME: str = reflection.SERVICE_NAME


class Reflection(reflection.aio.ReflectionServicer):
    def __init__(self, service_names: Iterable[str], pool: Any = None) -> None:
        names = list(service_names)
        super().__init__(names, pool)  # type: ignore[no-untyped-call]
        pool = pool or descriptor_pool.Default()
        # Method full name -> its service's full name, for the services served here.
        self._services_of_methods: dict[str, str] = {}
        for name in names:
            try:
                service = pool.FindServiceByName(name)
            except KeyError:
                continue
            for method in service.methods:
                self._services_of_methods[method.full_name] = name

    def _file_containing_symbol(
        self, request: reflection_pb2.ServerReflectionRequest, fully_qualified_name: str
    ) -> reflection_pb2.ServerReflectionResponse:
        name = self._services_of_methods.get(fully_qualified_name, fully_qualified_name)
        response: reflection_pb2.ServerReflectionResponse
        response = super()._file_containing_symbol(request, name)  # type: ignore[no-untyped-call]
        return response


def add_to(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    """Serve reflection for `service_names` (and for itself) on `server`."""
    names = [*service_names, SERVICE_NAME]
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(Reflection(names), server)  # type: ignore[no-untyped-call]
