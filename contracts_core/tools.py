"""External tools, found and version-checked in one place.

`contracts doctor` reports on exactly this table; every other command asks it
for a binary and gets either a checked path or a ToolError saying how to fix it.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from contracts_core.errors import ToolError

SETUP_HINT = "run scripts/setup.sh from the repository root"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    pinned: str
    version_args: tuple[str, ...]
    version_pattern: str
    env_override: str
    install_hint: str


BUF = ToolSpec(
    name="buf",
    # Keep in step with package.json; tests/test_tools.py checks they agree.
    pinned="1.75.0",
    version_args=("--version",),
    version_pattern=r"(\d+\.\d+\.\d+)",
    env_override="CONTRACTS_BUF",
    install_hint=f"{SETUP_HINT} (installs @bufbuild/buf from package-lock.json and links it into .venv/bin)",
)

MYPY_PROTOBUF = ToolSpec(
    name="protoc-gen-mypy",
    # Keep in step with pyproject.toml's mypy-protobuf pin.
    pinned="5.1.0",
    version_args=("--version",),
    version_pattern=r"(\d+\.\d+\.\d+)",
    env_override="CONTRACTS_PROTOC_GEN_MYPY",
    install_hint=f"{SETUP_HINT} (installs mypy-protobuf into .venv)",
)

_GO_HINT = f"{SETUP_HINT} (go install from the Go module proxy into .venv/bin)"

PROTOC_GEN_GO = ToolSpec(
    name="protoc-gen-go",
    # Keep in step with scripts/setup.sh.
    pinned="1.36.12",
    version_args=("--version",),
    version_pattern=r"v?(\d+\.\d+\.\d+)",
    env_override="CONTRACTS_PROTOC_GEN_GO",
    install_hint=_GO_HINT,
)

PROTOC_GEN_GO_GRPC = ToolSpec(
    name="protoc-gen-go-grpc",
    pinned="1.6.2",
    version_args=("--version",),
    version_pattern=r"(\d+\.\d+\.\d+)",
    env_override="CONTRACTS_PROTOC_GEN_GO_GRPC",
    install_hint=_GO_HINT,
)

TOOLS: tuple[ToolSpec, ...] = (BUF, MYPY_PROTOBUF, PROTOC_GEN_GO, PROTOC_GEN_GO_GRPC)


@dataclass(frozen=True)
class ToolStatus:
    spec: ToolSpec
    path: Path | None
    version: str | None

    @property
    def ok(self) -> bool:
        return self.path is not None and self.version == self.spec.pinned

    def problem(self) -> str | None:
        if self.path is None:
            return f"{self.spec.name} not found; fix: {self.spec.install_hint}"
        if self.version is None:
            return f"{self.spec.name} at {self.path} did not report a version; fix: {self.spec.install_hint}"
        if self.version != self.spec.pinned:
            return (
                f"{self.spec.name} {self.version} at {self.path}, but {self.spec.pinned} is pinned; "
                f"fix: {self.spec.install_hint}"
            )
        return None


def _candidates(spec: ToolSpec) -> list[Path]:
    override = os.environ.get(spec.env_override)
    if override:
        return [Path(override)]
    # The venv's bin dir first: set-up links pinned binaries there, so an
    # unrelated tool of the same name on PATH never wins.
    found = [Path(sys.executable).parent / spec.name]
    on_path = shutil.which(spec.name)
    if on_path:
        found.append(Path(on_path))
    return found


@functools.cache
def probe(spec: ToolSpec) -> ToolStatus:
    for candidate in _candidates(spec):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return ToolStatus(spec, candidate, _version(spec, candidate))
    return ToolStatus(spec, None, None)


def _version(spec: ToolSpec, path: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(path), *spec.version_args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(spec.version_pattern, out.stdout + out.stderr)
    return match.group(1) if match else None


def require(spec: ToolSpec) -> Path:
    """The checked path of a tool, or a ToolError that names the fix."""
    status = probe(spec)
    problem = status.problem()
    if problem is not None:
        raise ToolError(problem)
    assert status.path is not None
    return status.path


def report() -> list[ToolStatus]:
    return [probe(spec) for spec in TOOLS]
