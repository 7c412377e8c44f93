"""The exit codes of a service process, defined once (the README's table is held to them)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """How a service process ended. A second signal exits with 128 + its number."""

    OK = 0
    """Drained and stopped after SIGTERM or SIGINT."""
    FAILED = 1
    """Start-up, the warm-up hook or a worker process failed."""
    BAD_SETTINGS = 2
    """A malformed environment variable or command-line flag."""
    PORT_IN_USE = 3
    """The gRPC or metrics port could not be bound."""


def interrupted(signum: int) -> int:
    """The exit status after a second signal cut the drain short: the shell's 128 + N."""
    return 128 + signum
