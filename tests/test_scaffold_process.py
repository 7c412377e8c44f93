"""A scaffolded service as a real process (`python -m echo`), probed by the real
grpc-health-probe and grpcurl: SERVING once started, listed and called through
reflection alone (the stub answers UNIMPLEMENTED naming its RPC), drained and exit 0
after SIGTERM. (The runtime's own tests cover NOT_SERVING during a drain with calls in
flight.) Every wait is bounded; the process group is killed."""

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
from runtime_process import tool
from scaffold_helpers import FOLDER, NAME, SERVICE, fixture_workspace, generate_python, scaffold

WAIT_S = 30


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
    process = Served(ws)
    try:
        yield process
    finally:
        process.kill()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=WAIT_S, check=False)


def test_probe_grpcurl_and_drain(served: Served) -> None:
    port = served.wait_for("listening")["port"]
    served.wait_for("serving")
    address = f"127.0.0.1:{port}"
    probe = run(tool("grpc-health-probe"), f"-addr={address}", f"-service={SERVICE}")
    assert probe.returncode == 0 and "SERVING" in probe.stdout + probe.stderr, probe

    listed = run(tool("grpcurl"), "-plaintext", address, "list")
    assert SERVICE in listed.stdout.split(), listed
    called = run(tool("grpcurl"), "-plaintext", "-d", '{"text": "hi"}', address, f"{SERVICE}/Echo")
    assert called.returncode != 0
    assert "Code: Unimplemented" in called.stderr, called.stderr
    assert f"/{SERVICE}/Echo is not implemented" in called.stderr

    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(WAIT_S) == 0
    assert served.wait_for("draining")
