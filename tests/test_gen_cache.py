"""The no-op cache of `contracts gen`: skip only when inputs and output are unchanged.

"Unchanged" has one definition, noop_stamp.fingerprint, shared with the fast
path; each kind of input it covers is changed here and must cause a rebuild.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import copy_repo_workspace, run_contracts

from codegen import noop_stamp
from codegen.gen import cache, generate, python_target
from contracts_core.image import Image, compile_workspace
from contracts_core.workspace import Workspace


@pytest.fixture
def ws_root(tmp_path: Path) -> Path:
    root = copy_repo_workspace(tmp_path / "ws")
    assert run_contracts("gen", "--target", "python", cwd=root).code == 0
    return root


Builds = Callable[[], list[str]]


@pytest.fixture
def builds(ws_root: Path, monkeypatch: pytest.MonkeyPatch) -> Builds:
    """Run the full path's generate for python in-process; say whether it built."""
    built: list[str] = []
    real_build = python_target.build

    def spy(ws: Workspace, image: Image, out: Path) -> None:
        built.append("python")
        real_build(ws, image, out)

    monkeypatch.setattr(python_target, "build", spy)

    def run() -> list[str]:
        built.clear()
        ws = Workspace.discover(root=ws_root)
        snapshot = noop_stamp.take_snapshot(ws, lambda: Workspace.discover(root=ws_root))
        assert snapshot is not None
        image = compile_workspace(ws)
        generate(ws, image, ["python"], inputs=snapshot.fingerprint.digest)
        return list(built)

    # This process's sys.path differs from the console script's: one build to settle.
    run()
    assert run() == [], "an unchanged tree must run no generator"
    return run


def test_unchanged_tree_runs_no_generator(builds: Builds) -> None:
    assert builds() == []


def test_changed_proto_regenerates(ws_root: Path, builds: Builds) -> None:
    proto = ws_root / "contracts/fleet/tasks/v1/envelope.proto"
    proto.write_text(proto.read_text().replace("// TraceContext", "// Changed. TraceContext", 1))
    assert builds() == ["python"]
    assert builds() == []


def test_settings_change_regenerates(ws_root: Path, builds: Builds) -> None:
    pyproject = ws_root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# a settings change\n")
    assert builds() == ["python"]
    assert builds() == []


@pytest.mark.parametrize(
    "rel",
    [
        "contracts_core/golang.py",  # the Go doc-comment printer
        "contracts_core/tools.py",  # the tool pins
        "codegen/gen/python_target.py",
        "codegen/gen/templates/go_client/service.go.j2",
        "codegen/gen/templates/go_client/new.go.tmpl",  # any suffix
    ],
)
def test_toolchain_source_change_regenerates(
    rel: str, builds: Builds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies = (tmp_path / "src/codegen", tmp_path / "src/contracts_core")
    for copy, original in zip(copies, noop_stamp.PACKAGE_DIRS, strict=True):
        shutil.copytree(original, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(noop_stamp, "PACKAGE_DIRS", copies)
    assert builds() == []  # the same bytes elsewhere: nothing changed
    path = tmp_path / "src" / rel
    path.write_text((path.read_text() if path.exists() else "") + "# changed\n")
    assert builds() == ["python"]
    assert builds() == []


def test_templates_override_change_regenerates(ws_root: Path, builds: Builds) -> None:
    (ws_root / "tpl").mkdir()
    pyproject = ws_root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("[tool.contracts]\n", '[tool.contracts]\ntemplates = "tpl"\n')
    )
    assert builds() == ["python"]
    assert builds() == []
    (ws_root / "tpl/notes.txt").write_text("any file in the override folder\n")
    assert builds() == ["python"]


def test_tool_identity_change_regenerates(
    builds: Builds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Path(sys.executable).parent / "protoc-gen-mypy"
    wrapper = tmp_path / "protoc-gen-mypy"
    wrapper.write_text(f'#!/bin/sh\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    (tmp_path / "protoc-gen-mypy_grpc").symlink_to(real.with_name("protoc-gen-mypy_grpc"))
    monkeypatch.setenv("CONTRACTS_PROTOC_GEN_MYPY", str(wrapper))
    assert builds() == ["python"]
    assert builds() == []


def test_installed_distribution_change_regenerates(
    builds: Builds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # protobuf's and grpcio's versions are written into generated/python/pyproject.toml.
    site = tmp_path / "site"
    (site / "protobuf-99.0.0.dist-info").mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    assert builds() == ["python"]
    assert builds() == []


def test_hand_edit_of_generated_file_is_not_up_to_date(ws_root: Path) -> None:
    target = ws_root / "generated/python/fleet/tasks/v1/envelope_pb2.pyi"
    original = target.read_bytes()
    target.write_bytes(original + b"# edited by hand\n")
    check = run_contracts("gen", "--check", "--target", "python", cwd=ws_root)
    assert check.code == 1
    assert "stale: generated/python/fleet/tasks/v1/envelope_pb2.pyi" in check.stdout
    assert run_contracts("gen", "--target", "python", cwd=ws_root).code == 0
    assert target.read_bytes() == original


def test_key_is_per_target_and_image(ws_root: Path) -> None:
    ws = Workspace.discover(root=ws_root)
    image = compile_workspace(ws)
    assert cache.key(image, "python", "x") != cache.key(image, "go", "x")
    assert cache.key(image, "python", "x") != cache.key(image, "python", "y")


def test_progress_reports_each_target_built_and_none_when_fresh(ws_root: Path) -> None:
    ws = Workspace.discover(root=ws_root)
    snapshot = noop_stamp.take_snapshot(ws, lambda: Workspace.discover(root=ws_root))
    assert snapshot is not None
    image = compile_workspace(ws)
    shutil.rmtree(ws_root / ".contracts-cache" / "gen")
    lines: list[str] = []
    inputs = snapshot.fingerprint.digest
    generate(ws, image, ["python"], check=True, progress=lines.append, inputs=inputs)
    assert lines[0] == f"python: generating from {len(image.targets)} file(s)"
    assert lines[1].startswith("python: generated in ")
    lines.clear()
    generate(ws, image, ["python"], check=True, progress=lines.append, inputs=inputs)
    assert lines == []
    # Without a fingerprint nothing counts as fresh.
    generate(ws, image, ["python"], check=True, progress=lines.append)
    assert lines[0].startswith("python: generating")
