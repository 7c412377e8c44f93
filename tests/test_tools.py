"""Each tool's pin is defined once, in contracts_core/tools.py; the files that
install the tools (package.json, pyproject.toml, scripts/setup.sh) must agree."""

from __future__ import annotations

import json
import re
import tomllib

from conftest import REPO

from contracts_core import tools


def test_buf_pin_matches_package_json() -> None:
    package = json.loads((REPO / "package.json").read_text(encoding="utf-8"))
    assert package["dependencies"]["@bufbuild/buf"] == tools.BUF.pinned


def test_mypy_protobuf_pin_matches_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = dict(d.split("==") for d in project["dependencies"])
    assert pins["mypy-protobuf"] == tools.MYPY_PROTOBUF.pinned


def test_setup_installs_go_plugins_from_the_pins() -> None:
    setup = (REPO / "scripts/setup.sh").read_text(encoding="utf-8")
    assert "tools.go_installs()" in setup
    assert not re.search(r"go install \S+@v\d", setup), "a pin written in setup.sh"
    assert tools.go_installs() == [
        f"google.golang.org/protobuf/cmd/protoc-gen-go@v{tools.PROTOC_GEN_GO.pinned}",
        f"google.golang.org/grpc/cmd/protoc-gen-go-grpc@v{tools.PROTOC_GEN_GO_GRPC.pinned}",
    ]


def test_go_minimum_is_the_generated_module_directive() -> None:
    go_mod = (REPO / "generated/go/go.mod").read_text(encoding="utf-8")
    assert f"\ngo {tools.GO.pinned}.0\n" in go_mod
    assert f"Go {tools.GO.pinned}+" in (REPO / "README.md").read_text(encoding="utf-8")


def test_go_minimum_accepts_newer_and_refuses_older() -> None:
    assert tools.GO.accepts("1.24") and tools.GO.accepts("1.26.8")
    assert not tools.GO.accepts("1.23.9")
    assert tools.BUF.accepts(tools.BUF.pinned) and not tools.BUF.accepts("1.75.1")
    status = tools.ToolStatus(tools.GO, REPO, "1.22.1")
    assert status.problem() is not None and "1.24 or newer" in (status.problem() or "")
