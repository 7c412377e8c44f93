"""SIGTERM and SIGINT for a serving process: the first starts the drain, a second exits
at once (status 128 + its number), for an operator whose drain takes too long."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from contracts_runtime.exitcodes import interrupted

_LOG = logging.getLogger("contracts_runtime")


class Signals:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, handle_sigint: bool = True) -> None:
        self._loop = loop
        self._event = asyncio.Event()
        self.first: str | None = None
        self._signalled = False
        for signum in (signal.SIGTERM, signal.SIGINT):
            if signum == signal.SIGINT and not handle_sigint:
                # A worker: Ctrl-C reaches the whole process group, and the parent
                # already turns it into this worker's drain.
                signal.signal(signum, signal.SIG_IGN)
            else:
                loop.add_signal_handler(signum, self._received, signum)

    def _received(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if not self._signalled:
            self._signalled = True
            _LOG.info(f"{name}: draining (a second signal exits at once)")
            self.trigger(name)
            return
        _LOG.warning(f"{name} while draining: exiting at once")
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        os._exit(interrupted(signum))

    def trigger(self, reason: str) -> None:
        """Start the drain as a signal would (a worker's parent asks for it)."""
        if self.first is None:
            self.first = reason
            self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
