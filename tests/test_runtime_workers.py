"""The serving runtime's workers mode: several processes on one port (SO_REUSEPORT), one
metrics endpoint summing them, signals forwarded, every worker drained, none left."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import grpc
from conftest import alive
from contracts_runtime import ExitCode
from runtime_process import (
    ServiceProcess,
    sample,
    scrape,
    submit,
    submit_future,
    wait_until,
)

Start = Callable[..., ServiceProcess]


def start_workers(start_service: Start) -> tuple[ServiceProcess, list[int], int]:
    service = start_service("--workers", "2", "--grace-period", "10")
    (started,) = service.wait_for("workers started")
    service.wait_for("serving", count=2)
    return service, list(started["workers"]), int(started["metrics_port"])


def test_workers_serve_one_port_and_all_drain(start_service: Start) -> None:
    service, pids, metrics_port = start_workers(start_service)
    ports = {line["port"] for line in service.logged("serving")}
    assert ports == {service.port}
    for n in range(20):  # a fresh connection each: the kernel spreads them
        with grpc.insecure_channel(service.address) as channel:
            submit(channel, f"call-{n}")
    finished = service.wait_for("finished call", count=20)
    assert {line["worker"] for line in finished} == {0, 1}
    text = scrape(metrics_port)
    assert sample(text, "grpc_server_handled_total", grpc_code="OK", grpc_method="SubmitTask") == 20

    with grpc.insecure_channel(service.address) as channel:
        slow = submit_future(channel, "sleep:1.5")
        wait_until(
            lambda: (
                sample(
                    scrape(metrics_port), "grpc_server_in_flight_requests", grpc_method="SubmitTask"
                )
                == 1
            )
        )
        service.signal(signal.SIGTERM)
        assert slow.result().task_id == "sleep:1.5"
    assert service.exit_code() == ExitCode.OK
    assert len(service.logged("stopped")) == 2
    assert not [pid for pid in pids if alive(pid)]


def test_a_worker_that_dies_takes_the_others_down(start_service: Start) -> None:
    service, pids, _ = start_workers(start_service)
    os.kill(pids[0], signal.SIGKILL)
    assert service.exit_code() == ExitCode.FAILED
    (exited,) = service.logged("worker exited")
    assert exited["pid"] == pids[0]
    assert not [pid for pid in pids if alive(pid)]


def test_second_signal_kills_the_workers_at_once(start_service: Start) -> None:
    service, pids, metrics_port = start_workers(start_service)
    with grpc.insecure_channel(service.address) as channel:
        pending = submit_future(channel, "sleep:60")  # held: a dropped future cancels
        wait_until(
            lambda: (
                sample(
                    scrape(metrics_port), "grpc_server_in_flight_requests", grpc_method="SubmitTask"
                )
                == 1
            )
        )
        service.signal(signal.SIGTERM)
        service.wait_for("draining", count=2)
        service.signal(signal.SIGTERM)
        assert service.exit_code(timeout=5) == 128 + signal.SIGTERM
        pending.cancel()
    assert not [pid for pid in pids if alive(pid)]


def test_workers_refuse_a_port_in_use(start_service: Start) -> None:
    first = start_service()
    second = start_service("--workers", "2", "--port", str(first.port))
    assert second.exit_code() == ExitCode.PORT_IN_USE
    assert not second.logged("workers started")
