"""Every failure a user can cause: one clear `contracts: ...` line, the documented
exit code (2 usage/config/tool, 3 does not compile) and never a traceback."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliResult, git, run_contracts, write_tree

MakeWorkspace = Callable[[dict[str, str]], Path]

BUF_YAML = "version: v2\nmodules:\n  - path: proto\n"
GOOD = """\
syntax = "proto3";

package acme.v1;

// An order.
message Order {
  // Its id.
  string id = 1;
}
"""
A = "proto/acme/v1/a.proto"


def fails(result: CliResult, code: int) -> str:
    """Assert a clean failure with `code`; return the stderr's `contracts:` message."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code == code, result
    assert result.stdout == "", result.stdout
    assert result.stderr.startswith("contracts: "), result.stderr
    _first, *rest = result.stderr.rstrip("\n").split("\n")
    # One message: any further lines are indented detail (compiler diagnostics).
    assert all(line.startswith("  ") for line in rest), result.stderr
    return result.stderr


@pytest.fixture
def ws(make_workspace: MakeWorkspace) -> Path:
    return make_workspace({"buf.yaml": BUF_YAML, A: GOOD})


# --- the contracts do not compile (3) ---------------------------------------------


def test_syntax_error(ws: Path) -> None:
    write_tree(ws, {A: GOOD.replace("string id = 1;", "string id = 1")})
    err = fails(run_contracts("lint", cwd=ws), 3)
    assert f"{A}:9:1: " in err  # buf points at the `}` after the missing `;`
    assert "contracts do not compile" in err
    # breaking compiles the working tree first and fails the same way.
    assert fails(run_contracts("breaking", "--against", str(ws), cwd=ws), 3) == err


def test_missing_import(ws: Path) -> None:
    write_tree(
        ws, {A: GOOD.replace("package acme.v1;\n", 'package acme.v1;\n\nimport "nope.proto";\n')}
    )
    err = fails(run_contracts("lint", cwd=ws), 3)
    assert re.search(rf"{re.escape(A)}:5:1: .*does not exist", err), err


def test_import_cycle(ws: Path) -> None:
    b = "proto/acme/v1/b.proto"
    write_tree(
        ws,
        {
            A: GOOD.replace(
                "package acme.v1;\n", 'package acme.v1;\n\nimport "acme/v1/b.proto";\n'
            ),
            b: 'syntax = "proto3";\n\npackage acme.v1;\n\nimport "acme/v1/a.proto";\n',
        },
    )
    err = fails(run_contracts("lint", cwd=ws), 3)
    assert re.search(r"proto/acme/v1/[ab]\.proto:5:1: .*cycl", err), err


# --- configuration (2) ------------------------------------------------------------


def test_malformed_buf_yaml(ws: Path) -> None:
    write_tree(ws, {"buf.yaml": "version: v2\nmodules:\n  - path: proto\n   oops: [\n"})
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert re.match(r"contracts: buf\.yaml:4:\d+: invalid YAML", err), err


def test_buf_yaml_unknown_version(ws: Path) -> None:
    write_tree(ws, {"buf.yaml": "# config\nversion: v9\n"})
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err.startswith("contracts: buf.yaml:2: unknown buf.yaml version 'v9'"), err


@pytest.mark.parametrize("section", ["lint", "breaking"])
def test_unknown_buf_rule_in_buf_yaml(ws: Path, section: str) -> None:
    write_tree(ws, {"buf.yaml": f"{BUF_YAML}{section}:\n  use:\n    - STANDARD_ISH\n"})
    args = ("breaking", "--against", str(ws)) if section == "breaking" else ("lint",)
    err = fails(run_contracts(*args, cwd=ws), 2)
    # buf's verdict on the name, pointed at the line of buf.yaml that has it.
    assert err == "contracts: buf.yaml:6: 'STANDARD_ISH' is not a known buf rule or category ID\n"


def test_module_path_that_is_not_a_directory(ws: Path) -> None:
    write_tree(ws, {"buf.yaml": "version: v2\nmodules:\n  - path: proto\n  - path: protos/\n"})
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err == "contracts: buf.yaml:4: module path 'protos' is not a directory\n"


def test_module_path_outside_the_workspace(ws: Path) -> None:
    write_tree(ws, {"buf.yaml": "version: v2\nmodules:\n  - path: proto\n  - path: ../x\n"})
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err == "contracts: buf.yaml:4: module path '../x' must stay inside the workspace\n"


@pytest.mark.parametrize(
    ("config", "line"),
    [
        ("version: v2\nmodules:\n  - path: proto\n    excludes: [5]\n", 4),
        ("version: v2\nmodules:\n  - path: proto\n    excludes: proto/x\n", 4),
        ("version: v1\nbuild:\n  excludes: 5\n", 3),
    ],
    ids=["v2-not-strings", "v2-string", "v1-int"],
)
def test_excludes_that_are_not_a_list_of_paths(ws: Path, config: str, line: int) -> None:
    write_tree(ws, {"buf.yaml": config})
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err == f"contracts: buf.yaml:{line}: 'excludes' must be a list of paths\n"


def test_buf_yaml_that_buf_cannot_decode(ws: Path) -> None:
    # Well-formed YAML that buf itself rejects: its verdict, pointed into buf.yaml.
    write_tree(ws, {"buf.yaml": "version: v2\nmodules:\n  - path: proto\n    lint: 5\n"})
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err.startswith("contracts: buf.yaml:4: cannot unmarshal"), err
    assert err.count("\n") == 1


def test_buf_yaml_that_is_not_utf8(ws: Path) -> None:
    (ws / "buf.yaml").write_bytes(b"version: v2\n# caf\xe9\nmodules:\n  - path: proto\n")
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err.startswith("contracts: buf.yaml:2: not valid UTF-8"), err


def test_malformed_pyproject_toml(ws: Path) -> None:
    write_tree(
        ws, {"pyproject.toml": '[project]\nname = "x"\n\n[tool.contracts\ngo_module = "a"\n'}
    )
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err.startswith("contracts: pyproject.toml:4:16: invalid TOML: "), err


def test_pyproject_toml_that_is_not_utf8(ws: Path) -> None:
    (ws / "pyproject.toml").write_bytes(b'[tool.contracts]\n\n# caf\xe9\ngo_module = "a.b/c"\n')
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err.startswith("contracts: pyproject.toml:3: not valid UTF-8"), err


def test_pyproject_tool_that_is_not_a_table(ws: Path) -> None:
    write_tree(ws, {"pyproject.toml": 'tool = "contracts"\n'})
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err == "contracts: pyproject.toml:1: 'tool' must be a table\n"


def test_unknown_key_in_tool_contracts(ws: Path) -> None:
    write_tree(
        ws,
        {"pyproject.toml": '[tool.contracts]\ngo_module = "example.com/x"\ngo_modul = "typo"\n'},
    )
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err.startswith("contracts: pyproject.toml:3: unknown key 'go_modul'"), err


def test_unknown_key_in_tool_contracts_lint(ws: Path) -> None:
    write_tree(ws, {"pyproject.toml": "[tool.contracts.lint]\ndisable = []\ndisabled = []\n"})
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err.startswith("contracts: pyproject.toml:3: unknown key 'disabled'"), err


def test_unknown_rule_id_in_lint_disable(ws: Path) -> None:
    write_tree(
        ws,
        {"pyproject.toml": '[tool.contracts]\n\n[tool.contracts.lint]\ndisable = ["NOT_A_RULE"]\n'},
    )
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err.startswith("contracts: pyproject.toml:4: unknown rule ID 'NOT_A_RULE'"), err
    assert "contracts rules" in err


def test_invalid_go_module(ws: Path) -> None:
    write_tree(ws, {"pyproject.toml": '[tool.contracts]\n\ngo_module = "Not A/Module"\n'})
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert err.startswith("contracts: pyproject.toml:3: go_module 'Not A/Module'"), err


# --- baselines (2) ----------------------------------------------------------------


def test_against_a_ref_that_does_not_exist(ws: Path) -> None:
    git(ws, "init", "-q", "-b", "main")
    err = fails(run_contracts("breaking", "--against", "no-such-ref", cwd=ws), 2)
    assert err.startswith("contracts: --against no-such-ref: "), err


def test_against_a_ref_outside_git(ws: Path) -> None:
    err = fails(run_contracts("breaking", "--against", "main", cwd=ws), 2)
    assert "not inside a git repository" in err
    err = fails(run_contracts("breaking", cwd=ws), 2)
    assert "not inside a git repository" in err


def test_against_a_file_that_is_not_an_image(ws: Path) -> None:
    write_tree(ws, {"notes.txt": "not an image\n"})
    err = fails(run_contracts("breaking", "--against", "notes.txt", cwd=ws), 2)
    assert "notes.txt" in err and "not a readable descriptor image" in err


def test_against_a_directory_without_protos(
    ws: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    empty = tmp_path_factory.mktemp("empty")
    write_tree(empty, {"buf.yaml": BUF_YAML, "proto/README.md": "x\n"})
    err = fails(run_contracts("breaking", "--against", str(empty), cwd=ws), 2)
    assert err == f"contracts: --against {empty}: no .proto files there to compare with\n"


def test_default_baseline_without_main(ws: Path) -> None:
    git(ws, "init", "-q", "-b", "trunk")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "x")
    err = fails(run_contracts("breaking", cwd=ws), 2)
    assert "--against" in err


# --- where the workspace is (2) ---------------------------------------------------


def test_outside_any_workspace(tmp_path: Path) -> None:
    assert not any((d / "buf.yaml").exists() for d in (tmp_path, *tmp_path.parents))
    for command in ("lint", "breaking"):
        err = fails(run_contracts(command, cwd=tmp_path), 2)
        assert "no buf.yaml found" in err and "--root" in err


def test_root_that_is_not_a_directory(ws: Path) -> None:
    err = fails(run_contracts("lint", "--root", "buf.yaml", cwd=ws), 2)
    assert err.startswith("contracts: --root ") and "not a directory" in err
    err = fails(run_contracts("lint", "--root", "missing", cwd=ws), 2)
    assert "not a directory" in err


def test_workspace_without_proto_files(make_workspace: MakeWorkspace) -> None:
    ws = make_workspace({"buf.yaml": BUF_YAML, "proto/README.md": "nothing yet\n"})
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert "no .proto files" in err


# --- tools (2) --------------------------------------------------------------------


def test_buf_missing(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTRACTS_BUF", "/nonexistent")
    for args in (("lint",), ("breaking", "--against", str(ws))):
        err = fails(run_contracts(*args, cwd=ws), 2)
        assert "buf not found" in err and "scripts/setup.sh" in err


def test_buf_wrong_version(ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "old-buf"
    fake.write_text("#!/bin/sh\necho 1.0.0\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("CONTRACTS_BUF", str(fake))
    err = fails(run_contracts("lint", cwd=ws), 2)
    assert "buf 1.0.0" in err and "1.75.0 is pinned" in err and "scripts/setup.sh" in err


def test_doctor(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok = run_contracts("doctor", cwd=ws)
    assert (ok.code, ok.stderr) == (0, "")
    assert re.match(r"ok\s+buf\s+found 1\.75\.0\s+pinned 1\.75\.0", ok.stdout), ok.stdout

    monkeypatch.setenv("CONTRACTS_BUF", "/nonexistent")
    bad = run_contracts("doctor", cwd=ws)
    assert bad.code == 1
    assert "Traceback" not in bad.stderr
    assert bad.stdout.startswith("PROBLEM  buf")
    assert "buf not found; fix: run scripts/setup.sh" in bad.stdout


# --- where commands run from --------------------------------------------------------


def test_commands_work_from_a_nested_folder(ws: Path) -> None:
    write_tree(ws, {A: GOOD.replace("message Order", "message order")})
    nested = ws / "proto" / "acme" / "v1"
    result = run_contracts("lint", "--format", "json", cwd=nested)
    assert result.code == 1, result
    findings = [f for f in json.loads(result.stdout) if f["source"] == "buf"]
    assert [(f["rule"], f["file"], f["line"]) for f in findings] == [("MESSAGE_PASCAL_CASE", A, 6)]
    assert run_contracts("lint", "--format", "json", cwd=ws).stdout == result.stdout


def test_root_on_a_tree_without_buf_yaml(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write_tree(tree, {"acme/v1/a.proto": GOOD.replace("message Order", "message order")})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_contracts("lint", "--root", str(tree), "--format", "json", cwd=elsewhere)
    assert result.code == 1, result
    findings = [f for f in json.loads(result.stdout) if f["source"] == "buf"]
    # buf's defaults: one module at the root, STANDARD lint.
    assert [(f["rule"], f["file"], f["line"]) for f in findings] == [
        ("MESSAGE_PASCAL_CASE", "acme/v1/a.proto", 6)
    ]
