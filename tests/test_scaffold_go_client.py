"""The generated Go client (generated/go, its default options plus WithInsecure) against
a service `contracts new service` scaffolded for fleet.inference.v1.InferenceService in a
copy of this repo's workspace, run as a real process (`python -m infer`), with two
handlers filled in the way a service team would: typed answers for a unary and a
server-streaming call, UNIMPLEMENTED naming an RPC left alone; a server stream idle for
longer than two client keepalive intervals stays open (and the control: a server that
tolerates fewer pings sends GOAWAY too_many_pings); SIGTERM with Go calls in flight.

The Go side is tests/scaffold_go (its own module, `replace`d onto generated/go), one
subcommand per scenario printing JSON. Every wait is bounded; every process group is
killed."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, build_go_program, copy_repo_workspace, run_bounded, run_contracts
from contracts_runtime.calls import DRAINING_DETAILS
from runtime_process import ServiceProcess, wait_until
from scaffold_helpers import edit

GO_CLIENT = REPO / "tests/scaffold_go"
NAME = "infer"
SERVICE = "fleet.inference.v1.InferenceService"
GO_TIMEOUT_S = 120

# What a service team writes into the scaffold: Predict answers after `sleep_ms`;
# PredictStream sends `pieces` pieces, `gap_ms` apart, the last one final.
PREDICT = '''        """Predict runs one inference request and returns all requested outputs."""
        sleep_ms = request.parameters["sleep_ms"].int64_value if "sleep_ms" in request.parameters else 0
        await asyncio.sleep(sleep_ms / 1000)
        return answer(request)
'''
PREDICT_STREAM = """        await unimplemented(context, "PredictStream")
        yield inference_service_pb2.PredictStreamResponse()  # unreachable; makes this a stream
"""
PREDICT_STREAM_FILLED = """        params = request.request.parameters
        pieces = params["pieces"].int64_value if "pieces" in params else 1
        gap_ms = params["gap_ms"].int64_value if "gap_ms" in params else 0
        for n in range(pieces):
            if n:
                await asyncio.sleep(gap_ms / 1000)
            yield inference_service_pb2.PredictStreamResponse(
                response=answer(request.request), sequence_number=n, final=n == pieces - 1
            )
"""
ANSWER = '''

def answer(request: inference_service_pb2.PredictRequest) -> inference_service_pb2.PredictResponse:
    """One output tensor named after the model, echoing the request's id."""
    output = tensor_pb2.Tensor(name=f"{request.model_name}_out", datatype=tensor_pb2.DATA_TYPE_FP32, shape=[1, 3])
    return inference_service_pb2.PredictResponse(
        model_name=request.model_name, model_version="1", request_id=request.request_id, outputs=[output]
    )
'''


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scaffolded service's folder, its Predict and PredictStream filled in."""
    ws = copy_repo_workspace(tmp_path_factory.mktemp("scaffold-go") / "ws")
    result = run_contracts("new", "service", NAME, "--service", SERVICE, cwd=ws)
    assert result.code == 0, result.stderr
    folder = ws / "services" / NAME
    server = folder / NAME / "server.py"
    edit(
        server,
        "from collections.abc import AsyncIterator\n",
        "import asyncio\nfrom collections.abc import AsyncIterator\n",
    )
    edit(server, "inference_service_pb2_grpc\n", "inference_service_pb2_grpc, tensor_pb2\n")
    edit(
        server,
        PREDICT.splitlines(keepends=True)[0] + '        await unimplemented(context, "Predict")\n',
        PREDICT,
    )
    edit(server, PREDICT_STREAM, PREDICT_STREAM_FILLED)
    edit(server, "\n\ndef services()", ANSWER + "\n\ndef services()")
    return folder


@pytest.fixture(scope="module")
def go_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_go_program(GO_CLIENT, tmp_path_factory.mktemp("scaffold-go-bin") / "scaffold_go")


Start = Callable[..., ServiceProcess]


@pytest.fixture
def start(scaffolded: Path) -> Iterator[Start]:
    """`start(**env)`: `python -m infer` in the scaffold, serving; all killed after."""
    started: list[ServiceProcess] = []

    def launch(**env: str) -> ServiceProcess:
        service = ServiceProcess(
            ["--host", "127.0.0.1", "--port", "0", "--metrics-port", "0"],
            {**os.environ, "SERVER_LOG_FORMAT": "json", **env},
            command=[sys.executable, "-m", NAME],
            cwd=scaffolded,
        )
        started.append(service)
        service.wait_for("serving")
        return service

    yield launch
    for service in started:
        service.kill()


def go(binary: Path, *args: str, timeout: float = GO_TIMEOUT_S) -> dict[str, Any]:
    """One subcommand of the Go client, bounded; its JSON answer, with grpc-go's log
    (errors only, its default) under "log"."""
    proc = run_bounded([str(binary), *args], cwd=GO_CLIENT, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    answer: dict[str, Any] = json.loads(proc.stdout)
    answer["log"] = proc.stderr
    return answer


def test_go_client_gets_typed_answers_and_unimplemented(start: Start, go_client: Path) -> None:
    service = start()
    result = go(go_client, "calls", "-addr", service.address)
    assert result["predict"] == {
        "status": {"code": "OK", "message": ""},
        "model_name": "echo",
        "model_version": "1",
        "request_id": "unary-1",
        "outputs": 1,
    }
    assert result["predict_output"] == {
        "name": "echo_out",
        "datatype": "DATA_TYPE_FP32",
        "shape": [1, 3],
    }
    stream = result["stream"]
    assert stream["status"] == {"code": "OK", "message": ""}
    assert [(p["sequence"], p["final"], p["request_id"]) for p in stream["pieces"]] == [
        (0, False, "stream-1"),
        (1, False, "stream-1"),
        (2, False, "stream-1"),
        (3, True, "stream-1"),
    ]
    assert result["get_model_ready"] == {
        "code": "Unimplemented",
        "message": f"/{SERVICE}/GetModelReady is not implemented",
    }
    # The runtime logged each call with its method and code, Predict with its request id
    # (the lines arrive through a pipe, so a moment after the answers).
    expected = {("Predict", "OK"), ("PredictStream", "OK"), ("GetModelReady", "Unimplemented")}

    def codes() -> set[tuple[str, str]]:
        return {
            (line["grpc.method"], line["grpc.code"]) for line in service.logged("finished call")
        }

    wait_until(lambda: expected <= codes())
    predicted = [
        line for line in service.logged("finished call") if line["grpc.method"] == "Predict"
    ]
    assert [line.get("request_id") for line in predicted] == ["unary-1"]


GRACE_S = 10.0
SLOW_CALL_S = 3.0


def test_sigterm_with_go_calls_in_flight(start: Start, go_client: Path) -> None:
    service = start(SERVER_GRACE_PERIOD=str(GRACE_S))
    result = go(
        go_client,
        "drain",
        "-addr",
        service.address,
        "-pid",
        str(service.proc.pid),
        "-metrics-port",
        str(service.metrics_port),
        "-calls",
        "3",
        "-sleep",
        f"{SLOW_CALL_S}s",
    )
    # Every accepted call completed with its typed answer, after the signal.
    assert [(a["status"]["code"], a["request_id"]) for a in result["accepted"]] == [
        ("OK", f"accepted-{i}") for i in range(3)
    ]
    assert all(0 < a["ended_at"] < GRACE_S for a in result["accepted"])
    # While they ran: health NOT_SERVING, new calls refused, by the server itself too.
    assert result["health_during"] == "NOT_SERVING"
    assert result["refused_at"] < min(a["ended_at"] for a in result["accepted"])
    assert result["late_default"]["code"] == "Unavailable"
    assert result["late_direct"] == {"code": "Unavailable", "message": DRAINING_DETAILS}
    # The process exits 0 within the grace period and leaves nothing in its group.
    left = GRACE_S - (time.time() - result["signalled_unix_sec"])
    assert service.proc.wait(max(left, 0.1)) == 0
    service.wait_for("draining")
    with pytest.raises(ProcessLookupError):
        os.killpg(service.proc.pid, 0)


# grpc-go never pings more often than every 10 s (it raises a shorter keepalive time to
# that floor), so the test scales the server instead: the Go clients' default 30 s
# against the runtime's default 10 s minimum, kept in proportion at 10 s against 10/3 s.
PING_S = 10.0
SCALED_MIN_PING_S = PING_S * 10.0 / 30.0
# Longer than two pings apart, and longer than a server that refuses the pings takes to
# close the stream (grpc's ping strikes: about 3 x PING_S in), so the control can fail.
IDLE_S = 45.0


def test_idle_stream_outlives_keepalive_pings_and_the_control_gets_goaway(
    start: Start, go_client: Path
) -> None:
    scaled = start(SERVER_MIN_PING_INTERVAL=str(SCALED_MIN_PING_S))
    strict = start(SERVER_MIN_PING_INTERVAL=str(6 * PING_S))

    def idle(service: ServiceProcess) -> dict[str, Any]:
        return go(
            go_client,
            "idle",
            "-addr",
            service.address,
            "-idle",
            f"{IDLE_S}s",
            "-keepalive",
            f"{PING_S}s",
            "-keepalive-timeout",
            f"{SCALED_MIN_PING_S}s",
            timeout=IDLE_S + 60,
        )

    with ThreadPoolExecutor(2) as pool:
        kept_future, control_future = pool.submit(idle, scaled), pool.submit(idle, strict)
        kept, control = kept_future.result(), control_future.result()
    assert kept["status"] == {"code": "OK", "message": ""}, kept
    assert [(p["sequence"], p["final"]) for p in kept["pieces"]] == [(0, False), (1, True)]
    assert kept["pieces"][1]["at"] >= IDLE_S
    # The control: pings more often than the server tolerates end the idle stream early.
    assert control["status"]["code"] == "Unavailable", control
    assert control["status"]["message"] == "Too many pings", control
    assert "GoAway" in control["log"] and "too_many_pings" in control["log"], control["log"]
    assert "too_many_pings" not in kept["log"], kept["log"]
    assert [p["sequence"] for p in control["pieces"]] == [0]
    assert control["elapsed"] < IDLE_S
