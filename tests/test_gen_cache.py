"""The no-op cache of `contracts gen`: skip only when inputs and output are unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import (
    CliResult,
    broken_mypy_plugin,
    copy_repo_workspace,
    run_contracts,
    run_contracts_env,
)

from codegen.gen import cache
from contracts_core.image import compile_workspace
from contracts_core.workspace import Workspace


@pytest.fixture
def ws_root(tmp_path: Path) -> Path:
    root = copy_repo_workspace(tmp_path / "ws")
    assert run_contracts("gen", "--target", "python", cwd=root).code == 0
    return root


def _gen_with_broken_plugin(root: Path, tmp_path: Path) -> CliResult:
    """Run gen with a mypy plugin that always fails: success means nothing was generated."""
    broken = broken_mypy_plugin(tmp_path)
    return run_contracts_env(
        "gen", "--target", "python", cwd=root, env={"CONTRACTS_PROTOC_GEN_MYPY": str(broken)}
    )


def test_unchanged_tree_runs_no_generator(ws_root: Path, tmp_path: Path) -> None:
    result = _gen_with_broken_plugin(ws_root, tmp_path)
    assert result.code == 0, result.stderr
    assert "python: up to date" in result.stderr


def test_changed_proto_regenerates(ws_root: Path, tmp_path: Path) -> None:
    proto = ws_root / "contracts/fleet/tasks/v1/envelope.proto"
    proto.write_text(proto.read_text().replace("// TraceContext", "// Changed. TraceContext", 1))
    assert _gen_with_broken_plugin(ws_root, tmp_path).code == 2


def test_hand_edit_of_generated_file_is_not_up_to_date(ws_root: Path) -> None:
    target = ws_root / "generated/python/fleet/tasks/v1/envelope_pb2.pyi"
    original = target.read_bytes()
    target.write_bytes(original + b"# edited by hand\n")
    check = run_contracts("gen", "--check", "--target", "python", cwd=ws_root)
    assert check.code == 1
    assert "stale: generated/python/fleet/tasks/v1/envelope_pb2.pyi" in check.stdout
    assert run_contracts("gen", "--target", "python", cwd=ws_root).code == 0
    assert target.read_bytes() == original


def test_key_covers_settings_and_generator_code(
    ws_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.discover(root=ws_root)
    image = compile_workspace(ws)
    before = cache.key(ws, image, "python")
    assert cache.key(ws, image, "go") != before
    pyproject = ws_root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# a settings change\n")
    assert cache.key(Workspace.discover(root=ws_root), image, "python") != before
    # A changed generator or template (files under codegen/gen) changes the key.
    fake_dir = ws_root / "fake_gen"
    shutil.copytree(Path(cache.__file__).parent, fake_dir)
    monkeypatch.setattr(cache, "_GENERATOR_DIR", fake_dir)
    assert cache.key(ws, image, "python") == before
    (fake_dir / "python_target.py").write_text("# changed\n")
    assert cache.key(ws, image, "python") != before


def test_progress_reports_each_target_built_and_none_when_fresh(ws_root: Path) -> None:
    from codegen.gen import generate

    ws = Workspace.discover(root=ws_root)
    image = compile_workspace(ws)
    shutil.rmtree(ws_root / ".contracts-cache" / "gen")
    lines: list[str] = []
    generate(ws, image, ["python"], check=True, progress=lines.append)
    assert lines[0] == f"python: generating from {len(image.targets)} file(s)"
    assert lines[1].startswith("python: generated in ")
    lines.clear()
    generate(ws, image, ["python"], check=True, progress=lines.append)
    assert lines == []


def test_key_covers_template_files_of_any_suffix(
    ws_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.discover(root=ws_root)
    image = compile_workspace(ws)
    fake = ws_root / "fake_gen"
    shutil.copytree(Path(cache.__file__).parent, fake)
    monkeypatch.setattr(cache, "_GENERATOR_DIR", fake)
    before = cache.key(ws, image, "go")
    (fake / "templates/go_client/extra.go.tmpl").write_text("{{ x }}\n")
    assert cache.key(ws, image, "go") != before
