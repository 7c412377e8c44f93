"""Errors that end a command with a documented exit code.

Every failure a user can cause is one of these, so the CLI prints one message
and exits with the code below instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Every exit code of every command: the one definition that the CLI's help, the
    README's table (tests/test_cli.py compares them) and each command use."""

    OK = 0
    FINDINGS = 1
    USAGE = 2
    COMPILE = 3

    @property
    def short(self) -> str:
        """A few words, for --help."""
        return _MEANINGS[self][0]

    @property
    def meaning(self) -> str:
        """The full meaning, for the README's table."""
        return _MEANINGS[self][1]


_MEANINGS = {
    ExitCode.OK: ("clean", "clean"),
    ExitCode.FINDINGS: (
        "findings",
        "findings (`doctor`: a tool problem; `gen --check`: drift; `new service --update`: "
        "merge conflicts; `registry check` and `push`: an incompatible subject, and push then "
        "registers nothing)",
    ),
    ExitCode.USAGE: (
        "usage/config/tool error",
        "usage, configuration or tool error; for `gen` also a template error, a Go name "
        "collision or an output folder that cannot be written (nothing is written); for "
        "`registry` and `check` also a schema registry that cannot be reached or refuses the "
        "credentials (the message names its URL)",
    ),
    ExitCode.COMPILE: (
        "contracts do not compile",
        "the contracts (or a breaking baseline) do not compile",
    ),
}


def exit_code_summary() -> str:
    """`0 clean, 1 findings, ...`: the codes in one line."""
    return ", ".join(f"{int(code)} {code.short}" for code in ExitCode)


def exit_code_table() -> str:
    """The codes as the README's Markdown table."""
    rows = [f"| {int(code)} | {code.meaning} |" for code in ExitCode]
    return "\n".join(["| exit code | meaning |", "|---|---|", *rows])


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
