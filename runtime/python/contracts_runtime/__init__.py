"""The serving runtime of the fleet's Python gRPC services.

A service's main is one call::

    from contracts_runtime import Service, run

    def services() -> list[Service]:
        return [Service("fleet.tasks.v1.TaskService",
                        task_service_pb2_grpc.add_TaskServiceServicer_to_server,
                        TaskService())]

    if __name__ == "__main__":
        raise SystemExit(run(services))

Imports only grpcio, grpcio-health-checking, grpcio-reflection, protobuf,
prometheus-client and the standard library; never the toolchain.
"""

from contracts_runtime.exitcodes import ExitCode
from contracts_runtime.lifecycle import run, serve
from contracts_runtime.server import PortInUse, Server, Service
from contracts_runtime.settings import OPTIONS, Settings, SettingsError

__all__ = [
    "OPTIONS",
    "ExitCode",
    "PortInUse",
    "Server",
    "Service",
    "Settings",
    "SettingsError",
    "run",
    "serve",
]
