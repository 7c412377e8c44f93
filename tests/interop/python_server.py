"""An InferenceService built only from the generated Python stubs, for the Go
client tests in this folder. It behaves just enough like a model server to
exercise every path of the typed Go client:

- model "echo" answers with its inputs (shapes and raw bytes unchanged);
- model "slow" sleeps for the parameter "sleep_ms" before answering;
- model "flaky" fails with UNAVAILABLE until a request_id has been tried
  the number of times in the parameter "fail_times";
- any other model is NOT_FOUND;
- PredictStream sends the parameter "pieces" pieces, the last one final;
- GetModelMetadata answers with the server's --name as platform, so a test
  can see which of several servers took a call.

Health: `--health NAME=STATUS` (repeatable) sets what grpc.health.v1.Health
reports for NAME ("" is the server's overall health); without it both "" and
the service's own name are SERVING. The statuses never change, so the health
service here is a fixed table: grpcio-health-checking's threaded servicer can
deadlock when a client cancels a Watch while its first answer is being sent
(its cancel callback, run on the server's event thread, waits for a lock the
sending thread holds while it waits for that event thread), and then this
process never exits.

Prints "PORT <n>" once it listens on 127.0.0.1; exits on SIGTERM or stdin EOF,
unless `--ignore-shutdown` makes it ignore both (a hung server, for the test
that proves the Go side still kills it).
"""

from __future__ import annotations

import argparse
import collections
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
from fleet.inference.v1 import inference_service_pb2 as pb
from fleet.inference.v1 import inference_service_pb2_grpc as pb_grpc
from fleet.inference.v1 import tensor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICE = "fleet.inference.v1.InferenceService"


class Inference(pb_grpc.InferenceServiceServicer):
    def __init__(self, name: str) -> None:
        self.name = name
        self.attempts: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    def _run(self, request: pb.PredictRequest, context: grpc.ServicerContext) -> pb.PredictResponse:
        params = request.parameters
        if request.model_name == "slow":
            # Sleep in steps so a cancelled or expired call frees its thread.
            until = time.monotonic() + params["sleep_ms"].int64_value / 1000
            while context.is_active() and time.monotonic() < until:
                time.sleep(0.01)
        elif request.model_name == "flaky":
            with self.lock:
                self.attempts[request.request_id] += 1
                attempt = self.attempts[request.request_id]
            if attempt <= params["fail_times"].int64_value:
                context.abort(grpc.StatusCode.UNAVAILABLE, f"attempt {attempt}: warming up")
        elif request.model_name != "echo":
            context.abort(grpc.StatusCode.NOT_FOUND, f"model {request.model_name!r} is not loaded")
        outputs = [
            tensor_pb2.Tensor(
                name=f"{t.name}_out", datatype=t.datatype, shape=t.shape, raw_data=t.raw_data
            )
            for t in request.inputs
        ]
        return pb.PredictResponse(
            model_name=request.model_name,
            model_version="1",
            request_id=request.request_id,
            outputs=outputs,
        )

    def Predict(
        self, request: pb.PredictRequest, context: grpc.ServicerContext
    ) -> pb.PredictResponse:
        return self._run(request, context)

    def BatchPredict(
        self, request: pb.BatchPredictRequest, context: grpc.ServicerContext
    ) -> pb.BatchPredictResponse:
        if not request.requests:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "batch is empty")
        results = []
        for item in request.requests:
            if item.model_name == "echo":
                results.append(pb.BatchPredictResult(response=self._run(item, context)))
            else:
                error = pb.ItemError(code=grpc.StatusCode.NOT_FOUND.value[0], message="not loaded")
                results.append(pb.BatchPredictResult(error=error))
        return pb.BatchPredictResponse(results=results)

    def PredictStream(
        self, request: pb.PredictStreamRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.PredictStreamResponse]:
        response = self._run(request.request, context)
        pieces = request.request.parameters["pieces"].int64_value
        for i in range(pieces):
            yield pb.PredictStreamResponse(
                response=response, sequence_number=i, final=i == pieces - 1
            )

    def GetModelMetadata(
        self, request: pb.GetModelMetadataRequest, context: grpc.ServicerContext
    ) -> pb.GetModelMetadataResponse:
        return pb.GetModelMetadataResponse(
            name=request.model_name, versions=["1"], platform=self.name
        )

    def GetModelReady(
        self, request: pb.GetModelReadyRequest, context: grpc.ServicerContext
    ) -> pb.GetModelReadyResponse:
        return pb.GetModelReadyResponse(ready=request.model_name == "echo")


class FixedHealth(health_pb2_grpc.HealthServicer):
    """grpc.health.v1 with statuses fixed at start-up."""

    def __init__(self, statuses: dict[str, int]) -> None:
        self._statuses = statuses

    def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        if request.service not in self._statuses:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=self._statuses[request.service])

    def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext
    ) -> Iterator[health_pb2.HealthCheckResponse]:
        unknown = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        yield health_pb2.HealthCheckResponse(status=self._statuses.get(request.service, unknown))
        # Nothing changes: hold the stream open until the client or the server ends it.
        ended = threading.Event()
        if context.add_callback(ended.set):
            ended.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="server")
    parser.add_argument("--health", action="append", default=[], metavar="NAME=STATUS")
    parser.add_argument("--ignore-shutdown", action="store_true")
    args = parser.parse_args()
    if args.ignore_shutdown:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        # Accept the Go clients' keepalive pings (every 30 s by default).
        options=[
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
        ],
    )
    pb_grpc.add_InferenceServiceServicer_to_server(Inference(args.name), server)
    statuses = [item.partition("=")[::2] for item in args.health] or [
        ("", "SERVING"),
        (SERVICE, "SERVING"),
    ]
    table = {s: health_pb2.HealthCheckResponse.ServingStatus.Value(v) for s, v in statuses}
    health_pb2_grpc.add_HealthServicer_to_server(FixedHealth(table), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    # The Go test holds our stdin; when it goes away, so do we.
    sys.stdin.read()
    while args.ignore_shutdown:
        time.sleep(1)
    server.stop(grace=None).wait(timeout=5)


if __name__ == "__main__":
    main()
