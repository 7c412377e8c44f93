"""A service process from start to exit, top to bottom: settings, build, start, warm up,
ready, wait for a signal, drain, stop."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from contracts_runtime import logs, metrics, workers
from contracts_runtime.exitcodes import ExitCode
from contracts_runtime.server import PortInUse, Server, Service
from contracts_runtime.settings import Settings, SettingsError, load
from contracts_runtime.signals import Signals

_LOG = logging.getLogger("contracts_runtime")

Hook = Callable[[], Awaitable[None]]


def run(
    services: Callable[[], Sequence[Service]],
    *,
    warm_up: Hook | None = None,
    on_stop: Hook | None = None,
    argv: Sequence[str] | None = None,
    prog: str | None = None,
) -> int:
    """The main function of a service process; returns its exit status (ExitCode).

    `services` builds the servicers; it is called in each serving process (once, or in
    every worker), never in a workers-mode parent. `warm_up` runs after the server
    started and before health says SERVING; `on_stop` after the drain.
    """
    try:
        settings = load(sys.argv[1:] if argv is None else argv, os.environ, prog)
    except SettingsError as e:
        logs.configure("info", "auto")
        for problem in e.problems:
            _LOG.error(f"invalid setting: {problem}")
        return ExitCode.BAD_SETTINGS
    worker = workers.this_worker()
    process_fields = {"worker": worker.index} if worker else {}
    logs.configure(settings.log_level, settings.log_format, process=process_fields)
    if worker is None and settings.workers > 1:
        return workers.supervise(settings)
    return asyncio.run(serve(services, settings, warm_up=warm_up, on_stop=on_stop, worker=worker))


async def serve(
    services: Callable[[], Sequence[Service]],
    settings: Settings,
    *,
    warm_up: Hook | None = None,
    on_stop: Hook | None = None,
    worker: workers.Worker | None = None,
) -> int:
    # Build.
    if worker is not None:
        settings = replace(settings, port=worker.port)
    try:
        server = Server(services(), settings, share_port=worker is not None)
    except Exception:
        _LOG.exception("start-up failed: the services could not be built")
        return ExitCode.FAILED
    signals = Signals(asyncio.get_running_loop(), handle_sigint=worker is None)
    if worker is not None:
        worker.on_parent_gone(asyncio.get_running_loop(), lambda: signals.trigger("parent"))

    # Start: bind the gRPC port (health NOT_SERVING), then the metrics port.
    try:
        await server.start()
    except PortInUse as e:
        _LOG.error(f"gRPC port in use: cannot listen on {e.address}")
        return ExitCode.PORT_IN_USE
    metrics_handle: object = None
    metrics_port = None
    if worker is None:
        try:
            metrics_port, metrics_handle = metrics.serve(settings.host, settings.metrics_port)
        except OSError as e:
            _LOG.error(
                f"metrics port in use: cannot listen on {settings.host}:{settings.metrics_port} ({e.strerror})"
            )
            await server.stop()
            return ExitCode.PORT_IN_USE

    _LOG.info(
        "listening",
        extra=logs.fields(port=server.port, metrics_port=metrics_port, pid=os.getpid()),
    )

    # Warm up; a signal meanwhile goes straight to the drain.
    if warm_up is not None and not await _warmed_up(warm_up, signals):
        await server.stop()
        metrics.stop(metrics_handle)
        return ExitCode.FAILED if signals.first is None else ExitCode.OK

    # What start-up built (modules, a model's objects) lives as long as the process:
    # frozen out of the collector's view, so a full collection under load no longer
    # walks it. With torch loaded that walk stalled every call for tens of ms and was
    # the p99 of an inference server (bench/README.md, inference_servers.py).
    gc.collect()
    gc.freeze()

    # Ready: health SERVING.
    await server.ready()
    _LOG.info(
        "serving",
        extra=logs.fields(port=server.port, metrics_port=metrics_port, pid=os.getpid()),
    )

    # Wait for SIGTERM or SIGINT (or, in a worker, the parent's word).
    await signals.wait()

    # Drain: NOT_SERVING, refuse new calls, let the accepted ones finish.
    _LOG.info(
        "draining",
        extra=logs.fields(grace_period=settings.grace_period, in_flight=server.calls.in_flight),
    )
    if not await server.drain(settings.grace_period):
        _LOG.warning(
            "grace period over: cancelling the calls still running",
            extra=logs.fields(in_flight=server.calls.in_flight),
        )

    # Stop.
    await server.stop()
    if on_stop is not None:
        await on_stop()
    metrics.stop(metrics_handle)
    _LOG.info("stopped")
    return ExitCode.OK


async def _warmed_up(warm_up: Hook, signals: Signals) -> bool:
    """Run the hook; False when it failed or a signal came first."""
    task = asyncio.ensure_future(warm_up())
    signalled = asyncio.ensure_future(signals.wait())
    await asyncio.wait({task, signalled}, return_when=asyncio.FIRST_COMPLETED)
    signalled.cancel()
    if not task.done():
        task.cancel()
        _LOG.info("stopped during warm-up")
        return False
    if task.exception() is not None:
        _LOG.error("warm-up failed", exc_info=task.exception())
        return False
    return True
