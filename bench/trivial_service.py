"""The two servers bench/runtime_vs_bare.py compares, with the same trivial handler
(fleet.inference.v1.InferenceService.GetModelReady answers ready at once).

    python bench/trivial_service.py runtime --port N [runtime flags, e.g. --workers 2]
    python bench/trivial_service.py bare --port N
    python bench/trivial_service.py noop-interceptor --port N


`runtime` serves through contracts_runtime (its interceptor's metrics, call logs and
drain gate, health, reflection, keepalive settings); `bare` is a plain grpc.aio server
with only the service; `noop-interceptor` is that server with one interceptor that only
passes the call on, the floor of any grpc.aio interceptor. Benchmark use only.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from contracts_runtime import Service, run
from fleet.inference.v1 import inference_service_pb2 as inference
from fleet.inference.v1 import inference_service_pb2_grpc as inference_grpc

SERVICE = "fleet.inference.v1.InferenceService"


class Trivial(inference_grpc.InferenceServiceServicer):
    async def GetModelReady(
        self, request: inference.GetModelReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> inference.GetModelReadyResponse:
        return inference.GetModelReadyResponse(ready=True)


def services() -> list[Service]:
    return [Service(SERVICE, inference_grpc.add_InferenceServiceServicer_to_server, Trivial())]


class PassOn(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        return await continuation(handler_call_details)


async def bare(port: int, interceptors: list[grpc.aio.ServerInterceptor]) -> None:
    server = grpc.aio.server(interceptors=interceptors)
    inference_grpc.add_InferenceServiceServicer_to_server(Trivial(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("serving", flush=True)
    await server.wait_for_termination()


def main(argv: list[str]) -> int:
    if argv[:1] in (["bare"], ["noop-interceptor"]) and len(argv) == 3 and argv[1] == "--port":
        asyncio.run(bare(int(argv[2]), [PassOn()] if argv[0] == "noop-interceptor" else []))
        return 0
    if argv[:1] == ["runtime"]:
        return run(services, argv=argv[1:], prog="trivial_service")
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
