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
    # Where scripts/setup.sh `go install`s it from (Go plugins only).
    go_package: str = ""
    # True for a toolchain the user brings (go): `pinned` is then the minimum.
    minimum: bool = False

    def accepts(self, version: str) -> bool:
        if not self.minimum:
            return version == self.pinned
        return _numbers(version) >= _numbers(self.pinned)


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


BUF = ToolSpec(
    name="buf",
    # package.json pins the npm package; tests/test_tools.py holds the two equal.
    pinned="1.75.0",
    version_args=("--version",),
    version_pattern=r"(\d+\.\d+\.\d+)",
    env_override="CONTRACTS_BUF",
    install_hint=f"{SETUP_HINT} (installs @bufbuild/buf from package-lock.json and links it into .venv/bin)",
)

MYPY_PROTOBUF = ToolSpec(
    name="protoc-gen-mypy",
    # pyproject.toml pins the distribution; tests/test_tools.py holds the two equal.
    pinned="5.1.0",
    version_args=("--version",),
    version_pattern=r"(\d+\.\d+\.\d+)",
    env_override="CONTRACTS_PROTOC_GEN_MYPY",
    install_hint=f"{SETUP_HINT} (installs mypy-protobuf into .venv)",
)

_GO_HINT = f"{SETUP_HINT} (go install from the Go module proxy into .venv/bin)"

PROTOC_GEN_GO = ToolSpec(
    name="protoc-gen-go",
    # scripts/setup.sh installs the Go plugins at the versions pinned here.
    pinned="1.36.12",
    version_args=("--version",),
    version_pattern=r"v?(\d+\.\d+\.\d+)",
    env_override="CONTRACTS_PROTOC_GEN_GO",
    install_hint=_GO_HINT,
    go_package="google.golang.org/protobuf/cmd/protoc-gen-go",
)

PROTOC_GEN_GO_GRPC = ToolSpec(
    name="protoc-gen-go-grpc",
    pinned="1.6.2",
    version_args=("--version",),
    version_pattern=r"(\d+\.\d+\.\d+)",
    env_override="CONTRACTS_PROTOC_GEN_GO_GRPC",
    install_hint=_GO_HINT,
    go_package="google.golang.org/grpc/cmd/protoc-gen-go-grpc",
)

GO = ToolSpec(
    name="go",
    # The generated module's `go` directive: grpc-go 1.77, which it requires,
    # declares go 1.24.0, so an older Go cannot build it.
    pinned="1.24",
    version_args=("env", "GOVERSION"),
    version_pattern=r"go(\d+\.\d+(?:\.\d+)?)",
    env_override="CONTRACTS_GO",
    install_hint="install Go 1.24 or newer from your package manager or go.dev",
    minimum=True,
)

TOOLS: tuple[ToolSpec, ...] = (BUF, MYPY_PROTOBUF, PROTOC_GEN_GO, PROTOC_GEN_GO_GRPC, GO)


def go_installs() -> list[str]:
    """`module/cmd@vX.Y.Z` for every Go plugin, as scripts/setup.sh installs them."""
    return [f"{t.go_package}@v{t.pinned}" for t in TOOLS if t.go_package]


@dataclass(frozen=True)
class ToolStatus:
    spec: ToolSpec
    path: Path | None
    version: str | None

    @property
    def ok(self) -> bool:
        return (
            self.path is not None and self.version is not None and self.spec.accepts(self.version)
        )

    def problem(self) -> str | None:
        if self.path is None:
            return f"{self.spec.name} not found; fix: {self.spec.install_hint}"
        if self.version is None:
            return f"{self.spec.name} at {self.path} did not report a version; fix: {self.spec.install_hint}"
        if not self.spec.accepts(self.version):
            wanted = (
                f"{self.spec.pinned} or newer is needed"
                if self.spec.minimum
                else (f"{self.spec.pinned} is pinned")
            )
            return (
                f"{self.spec.name} {self.version} at {self.path}, but {wanted}; "
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
