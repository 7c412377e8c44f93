"""Running the real buf binary and reading its JSON diagnostics."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from contracts_core import bufconfig, tools
from contracts_core.errors import ConfigError, ContractsError, ToolError
from contracts_core.findings import Audience, Finding, Severity

# buf's documented exit code for "ran fine and found something".
FINDINGS_EXIT = 100


@dataclass(frozen=True)
class BufDiagnostic:
    """One line of buf's --error-format json output."""

    path: str
    line: int
    column: int
    rule: str
    message: str

    def finding(
        self,
        file: str,
        breaks: tuple[Audience, ...] = (),
        may_break: tuple[Audience, ...] = (),
    ) -> Finding:
        """This diagnostic as a finding, repositioned at a workspace-relative file
        (none: no position, as buf reports a deleted file)."""
        line, column = (self.line, self.column) if file else (0, 0)
        return Finding(
            file,
            line,
            column,
            self.rule,
            self.message,
            Severity.ERROR,
            "buf",
            "",
            breaks,
            may_break,
        )


@dataclass(frozen=True)
class BufResult:
    returncode: int
    diagnostics: list[BufDiagnostic]
    stderr: str


class BufProcess:
    """A buf run in flight, so our own checks can use the other core meanwhile."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        binary = tools.require(tools.BUF)
        self.args = args
        self._cwd = cwd
        self._proc = subprocess.Popen(
            [str(binary), *args, "--error-format", "json"],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait(self) -> BufResult:
        """Collect the result; anything but success or findings is a ToolError."""
        stdout, stderr = self._proc.communicate()
        diagnostics, other = _parse(stdout + "\n" + stderr)
        code = self._proc.returncode
        if code not in (0, FINDINGS_EXIT):
            detail = "\n".join(other).strip() or f"exit code {code}"
            raise _failure(self.args[0], detail, self._cwd)
        return BufResult(code, diagnostics, "\n".join(other))


_UNKNOWN_ID = re.compile(r'"([^"]+)" is not a known rule or category ID')


_DECODE = re.compile(r"decode (buf\.ya?ml): (?:yaml: unmarshal errors:)?\s*(.*)", re.DOTALL)
_YAML_LINE = re.compile(r"^\s*line (\d+): (.*)$", re.MULTILINE)


def _failure(command: str, detail: str, cwd: Path) -> ContractsError:
    """A failed buf run as an error for the user; buf.yaml problems point into buf.yaml."""
    decode = _DECODE.search(detail)
    if decode:
        name, rest = decode.groups()
        lines = _YAML_LINE.findall(rest)
        if lines:
            (first, message), *more = lines
            extra = "".join(f"\n  {name}:{n}: {m}" for n, m in more)
            return ConfigError(f"{name}:{first}: {message}{extra}")
        return ConfigError(f"{name}: {rest.strip()}")
    unknown = _UNKNOWN_ID.search(detail)
    config = next((cwd / n for n in bufconfig.CONFIG_NAMES if (cwd / n).is_file()), None)
    if unknown and config is not None:
        rule = unknown.group(1)
        word = re.compile(rf"(?<![A-Z0-9_]){re.escape(rule)}(?![A-Z0-9_])")
        lines = config.read_text(encoding="utf-8").splitlines()
        line = next((n for n, text in enumerate(lines, start=1) if word.search(text)), 0)
        # Not in buf.yaml itself (a policy file names it, say): buf's own words say where.
        if line:
            return ConfigError(
                f"{config.name}:{line}: {rule!r} is not a known buf rule or category ID"
            )
    return ToolError(f"buf {command} failed: {detail}")


def run(args: list[str], cwd: Path) -> BufResult:
    return BufProcess(args, cwd).wait()


def _parse(output: str) -> tuple[list[BufDiagnostic], list[str]]:
    diagnostics: list[BufDiagnostic] = []
    other: list[str] = []
    for line in output.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                other.append(line)
                continue
            message = item.get("message", "")
            if item.get("policy"):
                # As buf's text output says it: the same rule can fire under
                # buf.yaml's own section and under a policy, and both are reported.
                message += f" ({item['policy']})"
            diagnostics.append(
                BufDiagnostic(
                    path=item.get("path", ""),
                    line=int(item.get("start_line", 0)),
                    column=int(item.get("start_column", 0)),
                    rule=item.get("type", ""),
                    message=message,
                )
            )
        else:
            other.append(line)
    return diagnostics, other


def per_config_invocations(
    command: list[str], files_by_config: dict[str, set[str]]
) -> list[list[str]]:
    """buf runs on an image, one per distinct module config.

    With a single config buf checks the whole image; with several, each run is
    limited with --path to its modules' files, since without --path buf would
    check every file under that one config.
    """
    if len(files_by_config) == 1:
        (config,) = files_by_config
        return [[*command, "--config", config]]
    return [
        [*command, "--config", config, *(a for n in sorted(names) for a in ("--path", n))]
        for config, names in files_by_config.items()
        if names
    ]
