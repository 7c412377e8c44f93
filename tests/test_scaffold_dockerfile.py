"""The scaffolded Dockerfile, read by BuildKit's own parser, instruction parser and linter
(tests/dockerfile_check, installed by scripts/setup.sh): no Docker engine runs here, so
the image is never built; what `docker build` checks before building, and the structure
the issue asks for, are checked instead. For the fixture workspace as it is (the runtime
comes from the package index) and with the runtime's source in the workspace (copied
into the image and built from there).

Checked: it parses and lints clean; the final stage runs as the non-root user the
Deployment's securityContext names, set after the last RUN; the build context holds
exactly what the build stage copies (the generated stubs, the runtime's source where the
workspace has it, the service), and only those are built into wheels; the final stage
installs the service's own distribution from those wheels alone; the settings in ENV
are the runtime's, well-formed, and EXPOSE and the Deployment's ports agree with them;
the entrypoint is the exec form of `python -m <package>`; and no HEALTHCHECK, as the
Deployment probes the gRPC health service natively (Kubernetes ignores HEALTHCHECK).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO
from contracts_runtime import OPTIONS
from contracts_runtime.settings import load
from runtime_process import tool
from scaffold_helpers import FOLDER, NAME, fixture_workspace, scaffold

from codegen.scaffold.view import GENERATED_PYTHON, RUNTIME_SOURCE


def check(dockerfile: Path) -> dict[str, Any]:
    result = subprocess.run(
        [tool("dockerfile_check"), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def commands(stage: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in stage["commands"] if c["name"] == name]


@pytest.fixture(params=["runtime from the index", "runtime in the workspace"])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    ws = fixture_workspace(tmp_path / "ws")
    if request.param == "runtime in the workspace":
        shutil.copytree(
            REPO / RUNTIME_SOURCE,
            ws / RUNTIME_SOURCE,
            ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"),
        )
    # The generated stubs the image copies: `contracts gen` writes them.
    (ws / GENERATED_PYTHON).mkdir(parents=True)
    (ws / GENERATED_PYTHON / "pyproject.toml").write_text("[project]\nname = 'stubs'\n")
    assert scaffold(ws).code == 0
    return ws


def test_the_dockerfile_parses_lints_and_is_built_from_the_service_alone(workspace: Path) -> None:
    service = workspace / FOLDER
    report = check(service / "Dockerfile")
    assert report["warnings"] == []
    build, final = report["stages"]

    # Build stage: copies from the context (the workspace root) exactly what the service
    # needs, and builds wheels of exactly those.
    wanted = [GENERATED_PYTHON, FOLDER]
    if (workspace / RUNTIME_SOURCE / "pyproject.toml").is_file():
        wanted.insert(1, RUNTIME_SOURCE)
    copies = commands(build, "COPY")
    assert [c["sources"] for c in copies] == [[path] for path in wanted]
    assert all(not c.get("from") for c in copies)
    for path in wanted:
        assert (workspace / path / "pyproject.toml").is_file(), path
    (wheels,) = commands(build, "RUN")
    words = wheels["cmdline"][0].split()
    assert words[:2] == ["pip", "wheel"]
    assert [w for w in words if w.startswith("./")] == [f"./{path}" for path in wanted]

    # Final stage: the wheels only, the service's own distribution installed from them
    # without an index, then the non-root user, before anything runs.
    assert final["base"] == build["base"]
    assert [c.get("from") for c in commands(final, "COPY")] == [build["name"]]
    project = tomllib.loads((service / "pyproject.toml").read_text())["project"]
    installs = [c["cmdline"][0] for c in commands(final, "RUN") if "pip install" in c["cmdline"][0]]
    (install,) = installs
    assert "--no-index" in install.split() and "--find-links /wheels" in install
    assert install.split("&&")[0].split()[-1] == project["name"]
    (user,) = commands(final, "USER")
    assert user["user"].isdigit() and int(user["user"]) != 0
    assert user["line"] > max(c["line"] for c in commands(final, "RUN"))

    # Settings, ports and probes agree with the runtime and the Deployment.
    env = dict(pair for c in commands(final, "ENV") for pair in c["env"])
    settings = {o.env for o in OPTIONS}
    runtime_env = {k: v for k, v in env.items() if k.startswith("SERVER_")}
    assert set(runtime_env) <= settings
    parsed = load([], runtime_env)  # raises SettingsError on a malformed value
    (expose,) = commands(final, "EXPOSE")
    assert expose["ports"] == [str(parsed.port), str(parsed.metrics_port)]
    deployment = yaml.safe_load((service / "k8s/deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert [p["containerPort"] for p in container["ports"]] == [
        parsed.port,
        parsed.metrics_port,
    ]
    assert int(user["user"]) == pod["securityContext"]["runAsUser"]
    assert "grpc" in container["readinessProbe"] and "grpc" in container["livenessProbe"]
    assert commands(final, "HEALTHCHECK") == []

    (entrypoint,) = commands(final, "ENTRYPOINT")
    assert entrypoint["shell"] is False  # exec form: SIGTERM reaches Python, not a shell
    assert entrypoint["cmdline"] == ["python", "-m", NAME]
    assert (service / NAME / "__main__.py").is_file()


def test_a_broken_dockerfile_is_caught(tmp_path: Path) -> None:
    """The checker itself: BuildKit's parse errors fail it; its lint rules are reported."""
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python:3.11-slim\nCOPY --from=build\n")
    result = subprocess.run(
        [tool("dockerfile_check"), str(broken)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1 and "COPY requires at least two arguments" in result.stderr
    broken.write_text("FROM python:3.11-slim as Build\nENTRYPOINT python -m x\n")
    rules = {w["rule"] for w in check(broken)["warnings"]}
    assert {"StageNameCasing", "FromAsCasing"} <= rules
