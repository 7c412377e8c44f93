"""Start `contracts registry serve` as a real process on a free loopback port, talk
to it over HTTP, and kill its process group after; every wait is bounded.
`STORES` are the store kinds the registry's suites run against; `new_store`
gives a test an empty one of a kind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CONTRACTS = Path(sys.executable).parent / "contracts"
START_TIMEOUT_S = 30
REQUEST_TIMEOUT_S = 60
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
STORES = ("sqlite", "postgresql")


def new_store(kind: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    """An empty store of `kind` as `--store` takes it: a SQLite file in `tmp`, or a
    new database on the session's PostgreSQL cluster (started on first use)."""
    if kind == "sqlite":
        return str(tmp / "store.db")
    assert kind == "postgresql", kind
    return str(request.getfixturevalue("postgres").create_database())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Answer:
    status: int
    body: Any
    text: str


class RegistryProcess:
    def __init__(self, store: Path | str, *args: str) -> None:
        self.store = store
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                str(CONTRACTS),
                "registry",
                "serve",
                "--port",
                str(self.port),
                "--store",
                str(store),
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, killed whole after
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"registry exited: {self.proc.stderr.read() if self.proc.stderr else ''}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise AssertionError(
                        f"registry not listening after {START_TIMEOUT_S} s"
                    ) from None
                time.sleep(0.1)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=10)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = CONTENT_TYPE,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_S) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        return Answer(status, parsed, text)


@contextlib.contextmanager
def running_registry(store: Path | str, *args: str) -> Iterator[RegistryProcess]:
    server = RegistryProcess(store, *args)
    try:
        yield server
    finally:
        server.kill()
