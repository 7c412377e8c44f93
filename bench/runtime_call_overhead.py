"""The runtime interceptor's own cost per call, without sockets or grpc core: the wrapped
handler of a unary method (the runtime's bookkeeping around it: metrics, the call log
line, the drain gate, the request id) against the same handler called bare, in one event
loop, alternating, for each log level. Prints microseconds per call.

    .venv/bin/python bench/runtime_call_overhead.py [--calls 50000] [--rounds 5]

A few seconds. Other processes on the machine disturb this much less than they disturb
runtime_vs_bare.py's throughput, so it shows what a change to the runtime's per-call path
gains; runtime_vs_bare.py's CPU time per call of the bare server (a few hundred
microseconds on the 2-core CI machine) is the yardstick for the 10% goal. The log lines
go to /dev/null. To compare another version of the runtime, put its source first on
PYTHONPATH.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO, cast

import grpc
from contracts_runtime import logs
from contracts_runtime.calls import Drain, Interceptor
from fleet.inference.v1 import inference_service_pb2 as inference

SERVICE = "fleet.inference.v1.InferenceService"
METHOD = f"/{SERVICE}/Predict"
# Calls between yields to the loop, as a server's loop turns while calls arrive.
BATCH = 16


class Details(grpc.HandlerCallDetails):
    method = METHOD
    invocation_metadata = ()


class Context:
    """The two things the interceptor asks a finished call's context."""

    def code(self) -> None:
        return None

    def time_remaining(self) -> None:
        return None


async def handler(request: inference.PredictRequest, context: Any) -> inference.PredictResponse:
    return inference.PredictResponse(request_id=request.request_id)


async def per_call_us(call: Callable[[Any, Any], Awaitable[Any]], calls: int) -> float:
    request, context = inference.PredictRequest(request_id="req-42"), Context()
    started = time.perf_counter()
    for n in range(calls):
        await call(request, context)
        if n % BATCH == 0:
            await asyncio.sleep(0)
    return (time.perf_counter() - started) / calls * 1e6


async def measure(level: str, calls: int, rounds: int, sink: TextIO) -> tuple[float, float]:
    """Median microseconds per call: bare handler, wrapped handler."""
    logs.configure(level, "json", stream=sink)
    interceptor = Interceptor(Drain(), [SERVICE])

    async def continuation(details: grpc.HandlerCallDetails) -> Any:
        return grpc.unary_unary_rpc_method_handler(handler)

    wrapped_handler = await interceptor.intercept_service(continuation, Details())
    assert wrapped_handler is not None
    wrapped = cast(Callable[[Any, Any], Awaitable[Any]], wrapped_handler.unary_unary)
    await per_call_us(wrapped, calls // 10)  # warm: the method's parts are made once
    bare, runtime = [], []
    for _ in range(rounds):
        bare.append(await per_call_us(handler, calls))
        runtime.append(await per_call_us(wrapped, calls))
    return statistics.median(bare), statistics.median(runtime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians")
    args = parser.parse_args()
    print(f"{'log level':<12}{'bare us':>10}{'runtime us':>12}{'added us':>10}")
    with open(os.devnull, "w") as sink:
        for level in ("info", "warning"):
            bare, runtime = asyncio.run(measure(level, args.calls, args.rounds, sink))
            print(f"{level:<12}{bare:>10.2f}{runtime:>12.2f}{runtime - bare:>10.2f}", flush=True)
        logging.shutdown()  # the queued lines, while the sink is open
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
