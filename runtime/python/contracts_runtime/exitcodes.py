"""The exit codes of a service process, defined once (the README's table is held to them)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """How a service process ended. A second signal exits with 128 + its number."""

    OK = 0
    FAILED = 1
    BAD_SETTINGS = 2
    PORT_IN_USE = 3


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "drained and stopped after SIGTERM or SIGINT (also when the grace period ran out)",
    ExitCode.FAILED: "start-up, the warm-up hook or a worker process failed",
    ExitCode.BAD_SETTINGS: "a malformed environment variable or command-line flag",
    ExitCode.PORT_IN_USE: "the gRPC or the metrics port is in use",
}


def interrupted(signum: int) -> int:
    """The exit status after a second signal cut the drain short: the shell's 128 + N."""
    return 128 + signum
