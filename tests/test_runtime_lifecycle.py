"""The serving runtime's lifecycle in a real process: graceful drain on SIGTERM, the
second signal, warm-up failures, bad settings and ports in use, with their exit codes."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable

import grpc
import pytest
from contracts_runtime import ExitCode
from grpc_health.v1 import health_pb2, health_pb2_grpc
from runtime_process import (
    ServiceProcess,
    health_status,
    sample,
    scrape,
    submit,
    submit_future,
    wait_until,
)

Start = Callable[..., ServiceProcess]


def in_flight(service: ServiceProcess) -> float:
    return sample(
        scrape(service.metrics_port), "grpc_server_in_flight_requests", grpc_method="SubmitTask"
    )


def test_sigterm_lets_accepted_calls_finish_and_refuses_new_ones(start_service: Start) -> None:
    service = start_service("--grace-period", "10")
    service.wait_for("serving")
    with grpc.insecure_channel(service.address) as channel:
        # An open health watch, as the Go clients keep: told at once, and it does not
        # hold the shutdown for the whole grace period.
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=15
        )
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        accepted = [submit_future(channel, "sleep:1.5") for _ in range(3)]
        wait_until(lambda: in_flight(service) == 3)
        signalled = time.monotonic()
        service.signal(signal.SIGTERM)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        service.wait_for("draining")
        assert health_status(service.address) == "NOT_SERVING"
        with pytest.raises(grpc.RpcError) as refused:
            submit(channel, "late")
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in (refused.value.details() or "")
        assert [f.result().task_id for f in accepted] == ["sleep:1.5"] * 3
    assert service.exit_code() == ExitCode.OK
    drained = time.monotonic() - signalled
    assert drained < 5, f"drain took {drained:.1f}s"
    assert service.logged("stopped")


def test_start_up_objects_are_frozen_out_of_the_collector_before_serving(
    start_service: Start,
) -> None:
    """A full collection under load must not walk what start-up built (with torch
    loaded it stalled every call for tens of ms: bench/README.md)."""
    service = start_service()
    service.wait_for("serving")
    with grpc.insecure_channel(service.address) as channel:
        answer = submit(channel, "gc-frozen").task_id
    frozen = int(answer.removeprefix("frozen:"))
    # The interpreter, grpc and the runtime's modules alone are tens of thousands.
    assert frozen > 10_000, answer


def test_grace_period_over_cancels_the_call_and_still_exits_0(start_service: Start) -> None:
    service = start_service("--grace-period", "0.5")
    service.wait_for("serving")
    with grpc.insecure_channel(service.address) as channel:
        overdue = submit_future(channel, "sleep:30")
        wait_until(lambda: in_flight(service) == 1)
        signalled = time.monotonic()
        service.signal(signal.SIGTERM)
        assert service.exit_code(timeout=10) == ExitCode.OK
        assert time.monotonic() - signalled < 3
        with pytest.raises(grpc.RpcError):
            overdue.result(timeout=10)
    (warning,) = service.logged("grace period over: cancelling the calls still running")
    assert warning["in_flight"] == 1


def test_second_signal_exits_at_once(start_service: Start) -> None:
    service = start_service("--grace-period", "60")
    service.wait_for("serving")
    with grpc.insecure_channel(service.address) as channel:
        pending = submit_future(channel, "sleep:60")  # held: a dropped future cancels
        wait_until(lambda: in_flight(service) == 1)
        service.signal(signal.SIGTERM)
        service.wait_for("draining")
        signalled = time.monotonic()
        service.signal(signal.SIGINT)
        assert service.exit_code(timeout=10) == 128 + signal.SIGINT
        assert time.monotonic() - signalled < 2
        pending.cancel()


def test_signal_during_warm_up_exits_0(start_service: Start) -> None:
    service = start_service(env={"TINY_WARM_UP": "60"})
    service.wait_for("listening")
    service.signal(signal.SIGTERM)
    assert service.exit_code(timeout=10) == ExitCode.OK
    assert not service.logged("serving")


def test_failed_warm_up_exits_1_never_serving(start_service: Start) -> None:
    service = start_service(env={"TINY_WARM_UP": "fail"})
    assert service.exit_code() == ExitCode.FAILED
    (failed,) = service.logged("warm-up failed")
    assert "model weights missing" in failed["exception"]
    assert not service.logged("serving")


def test_malformed_settings_name_the_variable_and_the_form(start_service: Start) -> None:
    service = start_service(
        "--grace-period", "soon", env={"SERVER_WORKERS": "two", "SERVER_MAX_MESSAGE_BYTES": "4MB"}
    )
    assert service.exit_code() == ExitCode.BAD_SETTINGS
    problems = sorted(line["msg"] for line in service.lines)
    assert problems == [
        "invalid setting: --grace-period='soon': expected a number of seconds, such as 25 or 2.5",
        "invalid setting: SERVER_MAX_MESSAGE_BYTES='4MB': expected a number of bytes below 2GiB, such as 4194304, 512KiB or 16MiB",
        "invalid setting: SERVER_WORKERS='two': expected a whole number of processes, 1 or more",
    ]


def test_unknown_flag_is_a_settings_error(start_service: Start) -> None:
    service = start_service("--prot", "80")
    assert service.exit_code() == ExitCode.BAD_SETTINGS
    assert "unrecognized arguments: --prot 80" in service.lines[0]["msg"]


@pytest.mark.parametrize("which", ["--port", "--metrics-port"])
def test_port_in_use_is_one_line_and_exit_3(start_service: Start, which: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        service = start_service(which, port)
        assert service.exit_code() == ExitCode.PORT_IN_USE
    errors = [line for line in service.lines if line.get("level") == "ERROR"]
    assert len(errors) == 1, service.lines
    assert "port in use" in errors[0]["msg"] and port in errors[0]["msg"]
    # Every stderr line is ours, JSON: grpc core never got to print its bind error.
    assert all("msg" in line for line in service.lines), service.lines


def test_a_second_instance_does_not_share_the_port(start_service: Start) -> None:
    """grpcio sets SO_REUSEPORT by default; a single process turns it off, so another
    server on the same port is an error, not a silent split of the traffic."""
    first = start_service()
    second = start_service("--port", str(first.port))
    assert second.exit_code() == ExitCode.PORT_IN_USE
