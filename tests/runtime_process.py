"""Start the tiny runtime service (tests/fixtures/runtime/service.py) as a real process
and read its JSON log lines; every wait is bounded and every process group is killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
from conftest import REPO
from fleet.tasks.v1 import task_service_pb2 as tasks
from fleet.tasks.v1 import task_service_pb2_grpc as tasks_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICE = REPO / "tests/fixtures/runtime/service.py"
BIN = Path(sys.executable).parent
TASKS = "fleet.tasks.v1.TaskService"
INFERENCE = "fleet.inference.v1.InferenceService"


class ServiceProcess:
    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        command: list[str] | None = None,
        cwd: Path = REPO,
    ) -> None:
        """`command` (the tiny service by default) with `args`, run in `cwd`."""
        self.proc = subprocess.Popen(
            [*(command or [sys.executable, str(SERVICE)]), *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, killed whole in cleanup
        )
        self.lines: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            try:
                line = json.loads(raw)
            except ValueError:
                line = {"raw": raw.rstrip("\n")}
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, msg: str, count: int = 1, timeout: float = 20) -> list[dict[str, Any]]:
        """The first `count` log lines whose msg is `msg`, waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines if line.get("msg") == msg]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                exited = self.proc.poll() is not None
                if left <= 0 or (not self._changed.wait(min(left, 0.2)) and exited):
                    raise AssertionError(f"no {count} x {msg!r} within {timeout}s: {self.lines}")

    def logged(self, msg: str) -> list[dict[str, Any]]:
        with self._changed:
            return [line for line in self.lines if line.get("msg") == msg]

    @property
    def port(self) -> int:
        return int(self.wait_for("listening")[0]["port"])

    @property
    def metrics_port(self) -> int:
        return int(self.wait_for("listening")[0]["metrics_port"])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def exit_code(self, timeout: float = 20) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


def service_starter() -> Iterator[Callable[..., ServiceProcess]]:
    """For a fixture: `start(*flags, env=...)` starts the service; all are killed after."""
    started: list[ServiceProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServiceProcess:
        process = ServiceProcess(
            ["--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", *args],
            {**os.environ, "SERVER_LOG_FORMAT": "json", **(env or {})},
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def health_status(address: str, service: str = "") -> str:
    with grpc.insecure_channel(address) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def submit(channel: grpc.Channel, task_id: str, timeout: float = 10) -> tasks.SubmitTaskResponse:
    request = tasks.SubmitTaskRequest(task={"task_id": task_id})
    response: tasks.SubmitTaskResponse = tasks_grpc.TaskServiceStub(channel).SubmitTask(
        request, timeout=timeout
    )
    return response


def submit_future(channel: grpc.Channel, task_id: str, timeout: float = 30) -> Any:
    request = tasks.SubmitTaskRequest(task={"task_id": task_id})
    return tasks_grpc.TaskServiceStub(channel).SubmitTask.future(request, timeout=timeout)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def sample(metrics_text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    for line in metrics_text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return 0.0


def tool(name: str) -> str:
    """A Go client scripts/setup.sh installed into .venv/bin (tests/clients/go.mod)."""
    path = BIN / name
    assert path.is_file(), f"{path} missing: run scripts/setup.sh"
    return str(path)


def wait_until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
