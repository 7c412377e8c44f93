"""Bad input to `contracts gen`: one clear message, a documented exit code, and
the previously generated tree left exactly as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import copy_repo_workspace, run_contracts, run_contracts_env


def _snapshot(root: Path) -> dict[str, bytes]:
    generated = root / "generated"
    return {
        p.relative_to(generated).as_posix(): p.read_bytes()
        for p in sorted(generated.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def generated_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = copy_repo_workspace(tmp_path_factory.mktemp("gen-errors") / "ws")
    result = run_contracts("gen", cwd=root)
    assert result.code == 0, result.stderr
    yield root


@pytest.fixture
def ws(generated_ws: Path) -> Iterator[Path]:
    """The generated workspace; each test's edits to its inputs are undone after."""
    inputs = {
        p: p.read_bytes() for p in [generated_ws / "pyproject.toml", *generated_ws.rglob("*.proto")]
    }
    before = _snapshot(generated_ws)
    # Touch a contract so no target is served from the no-op cache.
    proto = generated_ws / "contracts/fleet/tasks/v1/envelope.proto"
    proto.write_bytes(proto.read_bytes() + b"\n// a change\n")
    yield generated_ws
    assert _snapshot(generated_ws) == before, "the previous generated/ tree changed"
    for path, data in inputs.items():
        path.write_bytes(data)


def _fails(root: Path, code: int, *args: str, env: dict[str, str] | None = None) -> str:
    result = run_contracts_env("gen", *args, cwd=root, env=env or {})
    assert result.code == code, (result.code, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("contracts: "), result.stderr
    return result.stderr


def test_missing_plugin(ws: Path) -> None:
    err = _fails(ws, 2, env={"CONTRACTS_PROTOC_GEN_GO": "/nonexistent/protoc-gen-go"})
    assert "protoc-gen-go not found" in err and "scripts/setup.sh" in err, err


def test_wrong_version_plugin(ws: Path, tmp_path: Path) -> None:
    fake = tmp_path / "protoc-gen-go-grpc"
    fake.write_text("#!/bin/sh\necho protoc-gen-go-grpc 1.0.0\n")
    fake.chmod(0o755)
    err = _fails(ws, 2, env={"CONTRACTS_PROTOC_GEN_GO_GRPC": str(fake)})
    assert "protoc-gen-go-grpc 1.0.0" in err and "1.6.2 is pinned" in err, err


def test_go_module_path_that_is_not_valid(ws: Path) -> None:
    pyproject = ws / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('go_module = "github.com/', 'go_module = "GitHub Com/'))
    err = _fails(ws, 2)
    assert "go_module 'GitHub Com/" in err and "not a valid Go module path" in err, err
    assert err.startswith("contracts: pyproject.toml:"), err


def test_contract_that_does_not_compile(ws: Path) -> None:
    proto = ws / "contracts/fleet/tasks/v1/envelope.proto"
    proto.write_text(proto.read_text() + "\nmessage Broken { NoSuchType x = 1; }\n")
    err = _fails(ws, 3)
    assert "contracts/fleet/tasks/v1/envelope.proto:" in err and "NoSuchType" in err, err


def test_target_that_does_not_exist(ws: Path) -> None:
    err = _fails(ws, 2, "--target", "rust")
    assert "unknown --target rust; choose from python, go, jsonschema" in err, err


def test_output_folder_that_cannot_be_written(tmp_path: Path) -> None:
    root = copy_repo_workspace(tmp_path / "ws")
    # A file where the generated/ folder should be; tests run as root, so
    # permission bits alone would not stop the write.
    (root / "generated").write_text("not a folder\n")
    err = _fails(root, 2, "--target", "jsonschema")
    assert err.startswith("contracts: cannot write generated"), err
    assert (root / "generated").read_text() == "not a folder\n"
