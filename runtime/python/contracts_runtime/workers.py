"""Several server processes on one port, for CPU-bound handlers (grpcio serves one core
per process). As grpc's multiprocessing example: the parent reserves the port with
SO_REUSEPORT and starts the workers before any gRPC state exists; each worker binds the
same port and the kernel spreads connections over them.

The workers are fresh interpreters running the same command line (`sys.orig_argv`),
told by one internal variable that they are worker N on port P. No fork: nothing of the
parent's gRPC, threads or locks leaks into a child.

Signals: the parent takes SIGTERM/SIGINT and tells the workers to drain by closing
their pipe (also what happens when the parent dies, so no worker outlives it); workers
ignore SIGINT, since a terminal's Ctrl-C reaches the whole group. A second signal kills
the workers and exits at once. The parent exits 0 only when every worker drained and
exited 0; a worker that dies while serving takes the others down, exit 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from contracts_runtime import logs, metrics, ports
from contracts_runtime.exitcodes import ExitCode, interrupted
from contracts_runtime.settings import Settings

_LOG = logging.getLogger("contracts_runtime")

WORKER_ENV = "CONTRACTS_RUNTIME_WORKER"  # internal: "index:port:fd"


@dataclass(frozen=True)
class Worker:
    index: int
    port: int
    fd: int

    def on_parent_gone(self, loop: asyncio.AbstractEventLoop, drain: Callable[[], None]) -> None:
        """Drain when the parent closes our pipe: its word to stop, or its death."""

        def readable() -> None:
            if not os.read(self.fd, 64):
                loop.remove_reader(self.fd)
                drain()

        loop.add_reader(self.fd, readable)


def this_worker() -> Worker | None:
    """The worker this process is, when a workers-mode parent started it."""
    value = os.environ.pop(WORKER_ENV, None)
    if not value:
        return None
    index, port, fd = (int(part) for part in value.split(":"))
    return Worker(index, port, fd)


def supervise(settings: Settings) -> int:
    try:
        held = ports.reserve(settings.host, settings.port)
    except OSError as e:
        _LOG.error(
            f"gRPC port in use: cannot listen on {settings.host}:{settings.port} ({e.strerror})"
        )
        return ExitCode.PORT_IN_USE
    directory = metrics.new_multiprocess_dir()
    try:
        with held:
            try:
                metrics_port, handle = metrics.serve(
                    settings.host, settings.metrics_port, metrics.multiprocess_registry(directory)
                )
            except OSError as e:
                _LOG.error(
                    f"metrics port in use: cannot listen on {settings.host}:{settings.metrics_port} ({e.strerror})"
                )
                return ExitCode.PORT_IN_USE
            try:
                return _Supervisor(settings, held.getsockname()[1], directory).run(metrics_port)
            finally:
                metrics.stop(handle)
    finally:
        metrics.remove_dir(directory)


class _Supervisor:
    def __init__(self, settings: Settings, port: int, metrics_dir: str) -> None:
        self.settings = settings
        self.port = port
        self.metrics_dir = metrics_dir
        self.pipes: dict[int, int | None] = {}  # worker pid -> write end of its pipe
        self.draining = False
        self.failed = False

    def run(self, metrics_port: int) -> int:
        signal.signal(signal.SIGTERM, self._signalled)
        signal.signal(signal.SIGINT, self._signalled)
        for index in range(self.settings.workers):
            self._spawn(index)
        _LOG.info(
            "workers started",
            extra=logs.fields(
                port=self.port,
                metrics_port=metrics_port,
                pid=os.getpid(),
                workers=sorted(self.pipes),
            ),
        )
        while self.pipes:
            pid, status = os.waitpid(-1, 0)
            if pid not in self.pipes:
                continue
            write_end = self.pipes.pop(pid)
            if write_end is not None:
                os.close(write_end)
            metrics.worker_exited(self.metrics_dir, pid)
            code = os.waitstatus_to_exitcode(status)
            if code != 0 or not self.draining:
                self.failed = True
                _LOG.error("worker exited", extra=logs.fields(pid=pid, status=code))
                self._drain_all()
        _LOG.info("workers stopped")
        return ExitCode.FAILED if self.failed else ExitCode.OK

    def _spawn(self, index: int) -> None:
        read_end, write_end = os.pipe()
        env = {
            **os.environ,
            WORKER_ENV: f"{index}:{self.port}:{read_end}",
            metrics.MULTIPROC_DIR_ENV: self.metrics_dir,
        }
        child = subprocess.Popen(sys.orig_argv, env=env, pass_fds=(read_end,))
        os.close(read_end)
        self.pipes[child.pid] = write_end

    def _drain_all(self) -> None:
        if self.draining:
            return
        self.draining = True
        for pid, write_end in list(self.pipes.items()):
            if write_end is not None:
                os.close(write_end)
            self.pipes[pid] = None

    def _signalled(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self.draining:
            _LOG.info(f"{name}: draining the workers (a second signal exits at once)")
            self._drain_all()
            return
        _LOG.warning(f"{name} while draining: killing the workers, exiting at once")
        for pid in self.pipes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in list(self.pipes):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        metrics.remove_dir(self.metrics_dir)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(interrupted(signum))
