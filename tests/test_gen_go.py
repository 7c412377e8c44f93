"""`contracts gen --target go`: a Go module that builds, vets and is gofmt-clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import REPO, run_contracts, run_go, write_tree

GO_OUT = REPO / "generated/go"


def _go(*args: str) -> subprocess.CompletedProcess[str]:
    return run_go(GO_OUT, *args)


def test_generated_module_builds_and_vets() -> None:
    for args in (("build", "./..."), ("vet", "./...")):
        result = _go(*args)
        assert result.returncode == 0, f"go {' '.join(args)}: {result.stderr}"


def test_generated_go_is_gofmt_clean_and_marked_generated() -> None:
    gofmt = shutil.which("gofmt")
    assert gofmt is not None
    listed = subprocess.run(
        [gofmt, "-l", "."], cwd=GO_OUT, capture_output=True, text=True, check=True
    )
    assert listed.stdout == ""
    sources = sorted(GO_OUT.rglob("*.go"))
    assert sources, "no Go files generated"
    for source in sources:
        assert source.read_text().startswith("// Code generated"), source


def test_module_path_and_packages_follow_settings() -> None:
    assert (GO_OUT / "go.mod").read_text().splitlines()[2] == (
        "module github.com/fleet-platform/contracts/generated/go"
    )
    listed = _go("list", "./...")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == {
        "github.com/fleet-platform/contracts/generated/go/fleet/adapter/v1",
        "github.com/fleet-platform/contracts/generated/go/fleet/inference/v1",
        "github.com/fleet-platform/contracts/generated/go/fleet/tasks/v1",
    }


def test_go_target_without_go_module_is_a_config_error(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "buf.yaml": "version: v2\n",
            "acme/v1/a.proto": """
                syntax = "proto3";
                package acme.v1;
                option go_package = "example.com/acme/v1;acmev1";
                message A { string id = 1; }
            """,
        },
    )
    result = run_contracts("gen", "--target", "go", cwd=tmp_path)
    assert result.code == 2
    assert "go_module" in result.stderr
    assert not (tmp_path / "generated/go").exists()
