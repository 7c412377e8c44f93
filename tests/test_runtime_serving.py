"""The serving runtime (runtime/python) in a real process: health, reflection, metrics and
logs, checked with grpcio clients and the real grpc-health-probe, grpcurl and ghz."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable

import grpc
import pytest
from conftest import REPO
from contracts_runtime import Settings
from fleet.inference.v1 import inference_service_pb2 as inference
from fleet.inference.v1 import inference_service_pb2_grpc as inference_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from runtime_process import (
    INFERENCE,
    TASKS,
    ServiceProcess,
    health_status,
    sample,
    scrape,
    submit,
    submit_future,
    tool,
    wait_until,
)

Start = Callable[..., ServiceProcess]


def probe(address: str, service: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            tool("grpc-health-probe"),
            f"-addr={address}",
            f"-service={service}",
            "-connect-timeout=5s",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_health_is_not_serving_until_warm_up_finished(start_service: Start) -> None:
    service = start_service(env={"TINY_WARM_UP": "2"})
    address = service.address  # bound before the warm-up
    assert not service.logged("serving")
    for name in ("", TASKS, INFERENCE):
        assert health_status(address, name) == "NOT_SERVING"
    service.wait_for("serving")
    for name in ("", TASKS, INFERENCE):
        assert health_status(address, name) == "SERVING"
    result = probe(address, TASKS)
    assert result.returncode == 0, result.stderr
    assert "status: SERVING" in result.stdout + result.stderr


def test_health_probe_sees_not_serving_while_draining(start_service: Start) -> None:
    service = start_service("--grace-period", "20")
    service.wait_for("serving")
    with grpc.insecure_channel(service.address) as channel:
        slow = submit_future(channel, "sleep:2")
        wait_until(
            lambda: (
                sample(
                    scrape(service.metrics_port),
                    "grpc_server_in_flight_requests",
                    grpc_method="SubmitTask",
                )
                == 1
            )
        )
        service.signal(15)
        service.wait_for("draining")
        result = probe(service.address)
        # grpc-health-probe's exit status 4 is "NOT_SERVING".
        assert result.returncode == 4, result.stdout + result.stderr
        assert "NOT_SERVING" in result.stdout + result.stderr
        assert slow.result().task_id == "sleep:2"
    assert service.exit_code() == 0


def test_reflection_serves_grpcurl_without_proto_files(start_service: Start) -> None:
    service = start_service()
    service.wait_for("serving")
    listed = subprocess.run(
        [tool("grpcurl"), "-plaintext", service.address, "list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert set(listed.stdout.split()) >= {
        TASKS,
        INFERENCE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    called = subprocess.run(
        [
            tool("grpcurl"),
            "-plaintext",
            "-d",
            '{"task": {"task_id": "via-reflection"}}',
            service.address,
            f"{TASKS}/SubmitTask",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(called.stdout) == {"taskId": "via-reflection"}


def test_ghz_loads_a_method_found_through_reflection(start_service: Start) -> None:
    """ghz resolves its --call by asking reflection for the method's own symbol
    (`package.Service.Method`), which grpcio-reflection alone answers NOT_FOUND."""
    service = start_service()
    service.wait_for("serving")
    ran = subprocess.run(
        [
            tool("ghz"),
            "--insecure",
            "--call",
            f"{TASKS}/SubmitTask",
            "-d",
            '{"task": {"task_id": "ghz"}}',
            "-n",
            "40",
            "-c",
            "4",
            "--format",
            "json",
            service.address,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["statusCodeDistribution"] == {"OK": 40}
    handled = sample(
        scrape(service.metrics_port),
        "grpc_server_handled_total",
        grpc_method="SubmitTask",
        grpc_code="OK",
    )
    assert handled == 40


def test_metrics_count_calls_by_method_and_code(start_service: Start) -> None:
    service = start_service()
    service.wait_for("serving")
    with grpc.insecure_channel(service.address) as channel:
        for _ in range(3):
            submit(channel, "ok")
        with pytest.raises(grpc.RpcError) as missing:
            submit(channel, "missing")
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as crashed:
            submit(channel, "crash")
        assert crashed.value.code() == grpc.StatusCode.UNKNOWN
        stream = inference_grpc.InferenceServiceStub(channel).PredictStream(
            inference.PredictStreamRequest(), timeout=10
        )
        assert [r.sequence_number for r in stream] == [0, 1, 2]
    text = scrape(service.metrics_port)
    submit_labels = {"grpc_service": TASKS, "grpc_method": "SubmitTask", "grpc_type": "unary"}
    assert sample(text, "grpc_server_started_total", **submit_labels) == 5
    assert sample(text, "grpc_server_handled_total", grpc_code="OK", **submit_labels) == 3
    assert sample(text, "grpc_server_handled_total", grpc_code="NotFound", **submit_labels) == 1
    assert sample(text, "grpc_server_handled_total", grpc_code="Unknown", **submit_labels) == 1
    assert sample(text, "grpc_server_handling_seconds_count", **submit_labels) == 5
    assert sample(text, "grpc_server_in_flight_requests", **submit_labels) == 0
    stream_labels = {"grpc_method": "PredictStream", "grpc_type": "server_stream"}
    assert sample(text, "grpc_server_msg_sent_total", **stream_labels) == 3
    assert sample(text, "grpc_server_handled_total", grpc_code="OK", **stream_labels) == 1


def test_each_call_logs_one_json_line_with_its_request_id(start_service: Start) -> None:
    service = start_service()
    service.wait_for("serving")
    with grpc.insecure_channel(service.address) as channel:
        inference_grpc.InferenceServiceStub(channel).Predict(
            inference.PredictRequest(request_id="req-42"), timeout=10
        )
        with pytest.raises(grpc.RpcError):
            submit(channel, "crash")
    finished = service.wait_for("finished call", count=2)
    predict, crash = sorted(finished, key=lambda line: str(line["grpc.method"]))
    assert predict["level"] == "INFO"
    assert predict["grpc.service"] == INFERENCE
    assert predict["grpc.code"] == "OK"
    assert predict["request_id"] == "req-42"
    assert isinstance(predict["grpc.time_ms"], float)
    assert crash["grpc.method"] == "SubmitTask"
    assert crash["grpc.code"] == "Unknown"
    assert crash["level"] == "ERROR"
    # The handler's own log line carries the call's fields too.
    (own,) = service.logged("predicting")
    assert own["request_id"] == "req-42" and own["grpc.method"] == "Predict"


def test_text_logs_on_a_terminal_setting(start_service: Start) -> None:
    service = start_service("--log-format", "text")
    wait_until(lambda: any("serving" in str(line.get("raw")) for line in service.lines), 20)
    assert not any("msg" in line for line in service.lines)


# A client pinging every second: the generated Go clients' 30 s pings, thirty times faster.
FAST_PINGS = [
    ("grpc.keepalive_time_ms", 1000),
    ("grpc.keepalive_timeout_ms", 1000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


@pytest.mark.parametrize(
    ("min_ping_interval", "outcome"),
    [
        # Scaled like the client: the default 10 s against 30 s pings. The stream stays.
        ("0.33", grpc.StatusCode.DEADLINE_EXCEEDED),
        # The control, as grpcio's defaults behave: pings too often for the server.
        ("10", grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_keepalive_pings_keep_an_idle_stream_open(
    start_service: Start, min_ping_interval: str, outcome: grpc.StatusCode
) -> None:
    service = start_service("--min-ping-interval", min_ping_interval)
    service.wait_for("serving")
    with grpc.insecure_channel(service.address, options=FAST_PINGS) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=6
        )
        statuses = []
        with pytest.raises(grpc.RpcError) as ended:
            for response in watch:  # one answer, then an idle stream until the deadline
                statuses.append(response.status)
    assert statuses == [health_pb2.HealthCheckResponse.SERVING]
    assert ended.value.code() == outcome, ended.value.details()
    if outcome == grpc.StatusCode.UNAVAILABLE:
        assert "Too many pings" in (ended.value.details() or "")


def test_default_keepalive_tolerates_the_go_clients_pings() -> None:
    options = (REPO / "generated/go/fleet/tasks/v1/client_options.go").read_text(encoding="utf-8")
    match = re.search(r"DefaultKeepaliveTime = (\d+) \* time\.Second", options)
    assert match, "the generated Go clients' keepalive interval moved"
    # A third of the clients' interval: room for timer jitter and a ping per stream start.
    assert Settings().min_ping_interval * 3 <= int(match.group(1))
