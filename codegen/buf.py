"""Running the real buf binary and reading its JSON diagnostics."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from codegen import tools
from codegen.errors import ToolError

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
            raise ToolError(f"buf {self.args[0]} failed: {detail}")
        return BufResult(code, diagnostics, "\n".join(other))


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
            diagnostics.append(
                BufDiagnostic(
                    path=item.get("path", ""),
                    line=int(item.get("start_line", 0)),
                    column=int(item.get("start_column", 0)),
                    rule=item.get("type", ""),
                    message=item.get("message", ""),
                )
            )
        else:
            other.append(line)
    return diagnostics, other
