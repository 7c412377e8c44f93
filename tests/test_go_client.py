"""The templated typed Go clients: golden files, build checks, and the Go
test in tests/interop that calls a Python server built from the Python stubs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, go_client_fixture, run_contracts

from codegen.gen import go_client
from codegen.gen.templates import BUILTIN_DIR, Templates
from contracts_core.errors import UsageError
from contracts_core.golang import doc_comment
from contracts_core.image import Image, compile_workspace
from contracts_core.workspace import Workspace

INTEROP = REPO / "tests/interop"


def _go(*args: str) -> subprocess.CompletedProcess[str]:
    go = shutil.which("go")
    assert go is not None, "go is required (scripts/setup.sh checks for it)"
    env = {**os.environ, "INTEROP_PYTHON": sys.executable, "GOFLAGS": "-mod=mod"}
    return subprocess.run(
        [go, *args], cwd=INTEROP, capture_output=True, text=True, env=env, check=False
    )


def test_go_client_calls_python_server_over_grpc() -> None:
    vet = _go("vet", "./...")
    assert vet.returncode == 0, vet.stderr
    result = _go("test", "-count=1", "-v", "./...")
    assert result.returncode == 0, result.stdout + result.stderr
    passed = {line.split()[2] for line in result.stdout.splitlines() if line.startswith("--- PASS")}
    # Every RPC kind the contracts have, a deadline and a status mapping at least.
    assert {
        "TestUnaryKeepsInt64AndBytesExact",
        "TestServerStreamingDeliversEveryPieceThenEOF",
        "TestCallerDeadlineWins",
        "TestDefaultDeadlineAppliesWhenCallerHasNone",
        "TestErrorStatusesMapThrough",
    } <= passed


# --- golden files and generator behaviour -------------------------------------

FIXTURE = REPO / "tests/fixtures/go_client"


def _fixture_image(tmp_path: Path) -> tuple[Workspace, Image]:
    root = go_client_fixture(tmp_path / "ws")
    ws = Workspace.discover(root)
    return ws, compile_workspace(ws)


def _render(
    image: Image, params: go_client.Parameters, templates: Templates | None = None
) -> dict[str, str]:
    return go_client.generate(
        image.descriptor_set.file,
        [f.name for f in image.target_files()],
        params,
        templates or Templates(),
    )


def test_golden_fixture_output(tmp_path: Path) -> None:
    """Regenerate with UPDATE_GOLDEN=1 pytest tests/test_go_client.py, then review the diff."""
    _, image = _fixture_image(tmp_path)
    out = _render(image, go_client.Parameters(module="example.com/shop/gen/go"))
    expected_dir = FIXTURE / "expected"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, source in out.items():
            (expected_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / rel).write_text(source, encoding="utf-8")
    expected = {
        p.relative_to(expected_dir).as_posix(): p.read_text(encoding="utf-8")
        for p in expected_dir.rglob("*.go")
    }
    assert sorted(out) == sorted(expected)
    for rel, source in out.items():
        assert source == expected[rel], f"{rel} differs; rerun with UPDATE_GOLDEN=1 and review"


def test_fixture_module_builds_vets_and_is_gofmt_clean(tmp_path: Path) -> None:
    """All four RPC kinds, nested and imported types, well-known types, deprecation."""
    root = go_client_fixture(tmp_path / "ws")
    result = run_contracts("gen", "--target", "go", cwd=root)
    assert result.code == 0, result.stderr
    module = root / "generated/go"
    assert (module / "shop/v1/cart_client.go").is_file()
    assert not (module / "shop/common/v1/client_options.go").exists(), "no services, no client"
    go = shutil.which("go")
    gofmt = shutil.which("gofmt")
    assert go and gofmt
    for args in (["build", "./..."], ["vet", "./..."]):
        proc = subprocess.run([go, *args], cwd=module, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    listed = subprocess.run([gofmt, "-l", "."], cwd=module, capture_output=True, text=True)
    assert listed.stdout == ""


def test_source_relative_paths(tmp_path: Path) -> None:
    _, image = _fixture_image(tmp_path)
    out = _render(image, go_client.Parameters(source_relative=True))
    assert sorted(out) == ["shop/v1/cart_client.go", "shop/v1/client_options.go"]
    out = _render(image, go_client.Parameters())
    assert "example.com/shop/gen/go/shop/v1/cart_client.go" in out


@pytest.mark.parametrize(
    ("parameter", "message"),
    [("paths=weird", "unknown parameter 'paths=weird'"), ("plugins=grpc", "known: module=")],
)
def test_unknown_parameter_is_named(parameter: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        go_client.Parameters.parse(parameter)


def test_go_package_outside_module_is_named(tmp_path: Path) -> None:
    _, image = _fixture_image(tmp_path)
    with pytest.raises(
        UsageError,
        match=r'shop/v1/cart.proto: go_package "example.com/shop/gen/go/shop/v1" is not inside module=example.org/x',
    ):
        _render(image, go_client.Parameters(module="example.org/x"))


def test_message_named_like_a_client_option_is_a_named_collision(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    root = make_workspace(
        {
            "pyproject.toml": '[tool.contracts]\ngo_module = "example.com/gen"\n',
            "acme/v1/a.proto": """
                syntax = "proto3";
                package acme.v1;
                option go_package = "example.com/gen/acme/v1;acmev1";
                message RetryPolicy { int32 attempts = 1; }
                service Jobs { rpc Run(RetryPolicy) returns (RetryPolicy); }
            """,
        }
    )
    result = run_contracts("gen", "--target", "go", cwd=root)
    assert result.code == 2
    assert result.stderr.startswith("contracts: acme/v1/a.proto: Go identifier RetryPolicy")
    assert not (root / "generated").exists() or not any((root / "generated").iterdir())


def _override(root: Path, body: str) -> None:
    (root / "templates/go_client").mkdir(parents=True)
    (root / "templates/go_client/options.go.j2").write_text(body)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'templates = "templates"\n')


def test_template_override_replaces_the_builtin(tmp_path: Path) -> None:
    root = go_client_fixture(tmp_path / "ws")
    builtin = (BUILTIN_DIR / "go_client/options.go.j2").read_text()
    _override(root, builtin.replace("10 * time.Second", "3 * time.Second"))
    result = run_contracts("gen", "--target", "go", cwd=root)
    assert result.code == 0, result.stderr
    options = (root / "generated/go/shop/v1/client_options.go").read_text()
    assert "DefaultCallTimeout = 3 * time.Second" in options
    # Editing the override alone must invalidate the no-op cache.
    override = root / "templates/go_client/options.go.j2"
    override.write_text(override.read_text().replace("3 * time.Second", "4 * time.Second"))
    result = run_contracts("gen", "--target", "go", cwd=root)
    assert result.code == 0, result.stderr
    options = (root / "generated/go/shop/v1/client_options.go").read_text()
    assert "DefaultCallTimeout = 4 * time.Second" in options


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "package {{ package }\n",
            r"templates/go_client/options\.go\.j2:1: template error: unexpected '}'",
        ),
        (
            "// ok\n\n{{ no_such_name }}\n",
            r"templates/go_client/options\.go\.j2:3: template error: 'no_such_name' is undefined",
        ),
    ],
)
def test_template_error_names_file_and_line_and_writes_nothing(
    tmp_path: Path, body: str, message: str
) -> None:
    root = go_client_fixture(tmp_path / "ws")
    assert run_contracts("gen", "--target", "go", cwd=root).code == 0
    before = {p: p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()}
    _override(root, body)
    result = run_contracts("gen", "--target", "go", cwd=root)
    assert result.code == 2
    assert re.search(message, result.stderr), result.stderr
    after = {p: p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()}
    assert after == before


GOFMT_CASES = [
    "One line.",
    "Errors:\n  - NOT_FOUND: gone.\n  - INVALID_ARGUMENT: a bad\n    shape.\nTrailing paragraph.",
    "Loose list:\n  - a\n\n  - b\n\n\nend",
    "Numbered:\n 1. one\n 2) two\n    more",
    "Code:\n\n    x := 1\n      y := 2\n\n    z := 3\nafter",
    "Para one.\n\n\n\nPara two.",
]


@pytest.mark.parametrize("comment", GOFMT_CASES)
def test_doc_comments_are_what_gofmt_prints(comment: str, tmp_path: Path) -> None:
    source = "package a\n\n" + "\n".join(doc_comment(comment)) + "\ntype T int\n"
    gofmt = shutil.which("gofmt")
    assert gofmt
    formatted = subprocess.run([gofmt], input=source, capture_output=True, text=True, check=True)
    assert formatted.stdout == source
