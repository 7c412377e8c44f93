"""Errors that end a command with a documented exit code.

Every failure a user can cause is one of these, so the CLI prints one message
and exits with the code below instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1
    USAGE = 2
    COMPILE = 3


class ContractsError(Exception):
    """A failure with a message meant for the user."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(ContractsError):
    """Bad arguments, or running where no workspace is."""


class ConfigError(ContractsError):
    """A malformed buf.yaml or [tool.contracts] section."""


class ToolError(ContractsError):
    """An external tool is missing, the wrong version, or failed unexpectedly."""


class GenerationError(ContractsError):
    """The contracts compile but cannot become code as asked: a name the generated
    code would declare twice, a template that fails, an output folder we cannot write."""


def read_config(path: Path, name: str) -> str:
    """A configuration file's text; unreadable or non-UTF-8 files are ConfigErrors."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{name}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8"
        ) from None


@dataclass(frozen=True)
class Diagnostic:
    """One compiler message, positioned in a workspace-relative file."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column}: {self.message}"
        return f"{self.path}: {self.message}" if self.path else self.message


class CompileError(ContractsError):
    """The contracts do not compile; carries buf's positioned diagnostics."""

    exit_code = ExitCode.COMPILE

    def __init__(
        self, diagnostics: list[Diagnostic], header: str = "contracts do not compile"
    ) -> None:
        body = "\n".join(f"  {d}" for d in diagnostics)
        super().__init__(f"{header}:\n{body}" if body else header)
        self.diagnostics = diagnostics
