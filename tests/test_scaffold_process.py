"""A scaffolded service as a real process (`python -m echo`), probed by the real
grpc-health-probe and grpcurl: SERVING once started, listed and called through
reflection alone (a stub answers UNIMPLEMENTED naming its RPC, the handler the test
writes answers), NOT_SERVING while SIGTERM drains a call in flight, which completes,
then exit 0 with nothing left in its process group. Every wait is bounded; the process
group is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_process import sample, scrape, tool, wait_until
from scaffold_helpers import (
    FOLDER,
    NAME,
    SERVICE,
    edit,
    fixture_workspace,
    generate_python,
    scaffold,
)

WAIT_S = 30
# The handler a team writes into the Echo stub: a "slow" call stays in flight a while.
SLOW_S = 3
IMPLEMENTED = f"""\
        if request.text == "slow":
            import asyncio

            await asyncio.sleep({SLOW_S})
        return messages_pb2.EchoResponse(text=request.text)
"""


class Served:
    """The scaffolded service's process and its JSON log lines."""

    def __init__(self, ws: Path) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                NAME,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--metrics-port",
                "0",
            ],
            cwd=ws / FOLDER,
            env={
                **os.environ,
                "PYTHONPATH": str(ws / "generated/python"),
                "SERVER_LOG_FORMAT": "json",
                "SERVER_GRACE_PERIOD": "5",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            try:
                self.lines.append(json.loads(raw))
            except ValueError:
                self.lines.append({"raw": raw})

    def wait_for(self, msg: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.get("msg") == msg:
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {msg!r} log line: {self.lines}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    ws = fixture_workspace(tmp_path / "ws")
    generate_python(ws)
    assert scaffold(ws).code == 0
    edit(
        ws / FOLDER / NAME / "server.py",
        '        await unimplemented(context, "Echo")\n',
        IMPLEMENTED,
    )
    process = Served(ws)
    try:
        yield process
    finally:
        process.kill()


# grpc-health-probe's exit status for a status other than SERVING.
PROBE_NOT_SERVING = 4


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=WAIT_S, check=False)


def test_probe_grpcurl_and_drain(served: Served) -> None:
    listening = served.wait_for("listening")
    port, metrics_port = listening["port"], listening["metrics_port"]
    served.wait_for("serving")
    address = f"127.0.0.1:{port}"
    probe = run(tool("grpc-health-probe"), f"-addr={address}", f"-service={SERVICE}")
    assert probe.returncode == 0 and "SERVING" in probe.stdout + probe.stderr, probe

    listed = run(tool("grpcurl"), "-plaintext", address, "list")
    assert SERVICE in listed.stdout.split(), listed
    called = run(tool("grpcurl"), "-plaintext", "-d", '{"text": "hi"}', address, f"{SERVICE}/Echo")
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {"text": "hi"}
    stub = run(tool("grpcurl"), "-plaintext", "-d", '{"text": "hi"}', address, f"{SERVICE}/Expand")
    assert stub.returncode != 0
    assert "Code: Unimplemented" in stub.stderr, stub.stderr
    assert f"/{SERVICE}/Expand is not implemented" in stub.stderr

    # A call in flight, then SIGTERM: the probe sees NOT_SERVING while it finishes.
    slow = subprocess.Popen(
        [tool("grpcurl"), "-plaintext", "-d", '{"text": "slow"}', address, f"{SERVICE}/Echo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: (
                sample(scrape(metrics_port), "grpc_server_in_flight_requests", grpc_method="Echo")
                == 1
            ),
            WAIT_S,
        )
        signalled = time.monotonic()
        served.proc.send_signal(signal.SIGTERM)
        served.wait_for("draining")
        during = run(tool("grpc-health-probe"), f"-addr={address}", f"-service={SERVICE}")
        assert during.returncode == PROBE_NOT_SERVING, during
        assert "NOT_SERVING" in during.stdout + during.stderr
        out, err = slow.communicate(timeout=WAIT_S)
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait(WAIT_S)
    assert slow.returncode == 0, err
    assert json.loads(out) == {"text": "slow"}
    assert served.proc.wait(WAIT_S) == 0
    assert time.monotonic() - signalled < 5 + SLOW_S  # SERVER_GRACE_PERIOD is 5
    with pytest.raises(ProcessLookupError):
        os.killpg(served.proc.pid, 0)
