"""The templated generators as protoc plugins: plain `buf generate` with them
writes the same bytes as `contracts gen`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO, go_client_fixture, run_contracts
from google.protobuf.compiler import plugin_pb2

BIN = Path(sys.executable).parent

BUF_GEN = """\
version: v2
plugins:
  - local: {bin}/protoc-gen-contracts-go-client
    out: out/go
    opt: module=github.com/fleet-platform/contracts/generated/go
  - local: {bin}/protoc-gen-contracts-jsonschema
    out: out/jsonschema
"""


def _files(root: Path, suffix: str = "") -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob(f"*{suffix}"))
        if p.is_file()
    }


def _go_clients(module: Path) -> dict[str, bytes]:
    """The files of a generated Go module that our templates wrote."""
    return {
        rel: data
        for rel, data in _files(module, ".go").items()
        if rel.endswith(("_client.go", "client_options.go"))
    }


def _buf_generate(cwd: Path, source: Path, template: str) -> subprocess.CompletedProcess[str]:
    (cwd / "buf.gen.yaml").write_text(template)
    return subprocess.run(
        [str(BIN / "buf"), "generate", str(source), "--template", "buf.gen.yaml"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def test_buf_generate_with_our_plugins_matches_contracts_gen(tmp_path: Path) -> None:
    proc = _buf_generate(tmp_path, REPO, BUF_GEN.format(bin=BIN))
    assert proc.returncode == 0, proc.stderr
    go_ours = _go_clients(REPO / "generated/go")
    assert go_ours, "the repo has clients"
    assert _files(tmp_path / "out/go") == go_ours
    assert _files(tmp_path / "out/jsonschema") == _files(REPO / "generated/jsonschema")


def _plugin(
    name: str, request: plugin_pb2.CodeGeneratorRequest
) -> plugin_pb2.CodeGeneratorResponse:
    proc = subprocess.run(
        [str(BIN / name)], input=request.SerializeToString(), capture_output=True, check=True
    )
    return plugin_pb2.CodeGeneratorResponse.FromString(proc.stdout)


def test_plugin_reports_bad_parameter_in_the_response(tmp_path: Path) -> None:
    response = _plugin(
        "protoc-gen-contracts-go-client", plugin_pb2.CodeGeneratorRequest(parameter="paths=nope")
    )
    assert response.error.startswith("unknown parameter 'paths=nope'")
    assert not response.file
    response = _plugin(
        "protoc-gen-contracts-jsonschema", plugin_pb2.CodeGeneratorRequest(parameter="x=1")
    )
    assert "takes no parameters" in response.error


def test_buf_generate_shows_a_missing_go_package_as_a_plugin_error(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "acme/v1").mkdir(parents=True)
    (ws / "buf.yaml").write_text("version: v2\n")
    (ws / "acme/v1/a.proto").write_text(
        'syntax = "proto3";\npackage acme.v1;\nmessage A {}\nservice S { rpc Do(A) returns (A); }\n'
    )
    proc = _buf_generate(
        tmp_path,
        ws,
        f"version: v2\nplugins:\n  - local: {BIN}/protoc-gen-contracts-go-client\n    out: out\n",
    )
    assert proc.returncode != 0
    assert "acme/v1/a.proto: no go_package option" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_contracts_gen_and_plugin_agree_on_the_fixture(tmp_path: Path) -> None:
    root = go_client_fixture(tmp_path / "ws")
    assert run_contracts("gen", "--target", "go", cwd=root).code == 0
    proc = _buf_generate(
        tmp_path,
        root,
        f"version: v2\nplugins:\n  - local: {BIN}/protoc-gen-contracts-go-client\n"
        "    out: out\n    opt: module=example.com/shop/gen/go\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert _files(tmp_path / "out") == _go_clients(root / "generated/go")
