"""The `contracts` command line: output formats, --fail-on and --help."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, run_contracts

from compat_checks.lint.registry import all_rules
from contracts_core.errors import exit_code_table
from contracts_core.findings import Severity

MakeWorkspace = Callable[[dict[str, str]], Path]

A = "proto/acme/v1/a.proto"
KEYS = {"rule", "severity", "file", "line", "column", "message", "source"}

# Only buf's MINIMAL rules, and of ours only the suppression bookkeeping, so each
# fixture below says exactly what it sets out to, whatever rules join the registry.
BUF_YAML = "version: v2\nmodules:\n  - path: proto\nlint:\n  use: [MINIMAL]\n"
KEEP = ("SUPPRESSION_REASON_MISSING", "SUPPRESSION_UNKNOWN_RULE", "SUPPRESSION_UNUSED")


def pyproject(extra: str = "") -> str:
    disabled = sorted(r for r in all_rules() if r not in KEEP)
    return f"[tool.contracts.lint]\ndisable = {json.dumps(disabled)}\n{extra}"


# A contracts:ignore that suppresses nothing: SUPPRESSION_UNUSED, a warning.
WARNING_ONLY = """\
syntax = "proto3";

package acme.v1;

// contracts:ignore SUPPRESSION_REASON_MISSING kept for the test of warnings
message Order {
  string id = 1;
}
"""

# Also a buf error: PACKAGE_DIRECTORY_MATCH (MINIMAL) on line 3.
WITH_ERROR = WARNING_ONLY.replace("package acme.v1;", "package acme.v2;")


@pytest.fixture
def warn_ws(make_workspace: MakeWorkspace) -> Path:
    return make_workspace({"buf.yaml": BUF_YAML, "pyproject.toml": pyproject(), A: WARNING_ONLY})


def test_registry_has_a_warning_rule_to_test_with() -> None:
    assert all_rules()["SUPPRESSION_UNUSED"].severity is Severity.WARNING


def test_json_format(warn_ws: Path) -> None:
    (warn_ws / A).write_text(WITH_ERROR, encoding="utf-8")
    result = run_contracts("lint", "--format", "json", cwd=warn_ws)
    assert (result.code, result.stderr) == (1, "")
    findings = json.loads(result.stdout)
    assert isinstance(findings, list)
    for f in findings:
        assert set(f) >= KEYS, f
        assert set(f) <= KEYS | {"fix", "breaks"}
        assert isinstance(f["line"], int) and isinstance(f["column"], int)
    assert [
        (f["rule"], f["severity"], f["file"], f["line"], f["column"], f["source"]) for f in findings
    ] == [
        ("PACKAGE_DIRECTORY_MATCH", "error", A, 3, 1, "buf"),
        ("SUPPRESSION_UNUSED", "warning", A, 6, 1, "contracts"),
    ]
    assert findings[0]["message"].startswith('Files with package "acme.v2" must be within')
    assert findings[1]["message"] == (
        "contracts:ignore SUPPRESSION_REASON_MISSING suppresses nothing here; remove it"
    )
    assert findings[1]["fix"] == all_rules()["SUPPRESSION_UNUSED"].fix


def test_json_format_without_findings_is_an_empty_list(make_workspace: MakeWorkspace) -> None:
    clean = WARNING_ONLY.replace(
        "// contracts:ignore SUPPRESSION_REASON_MISSING kept for the test of warnings\n", ""
    )
    ws = make_workspace({"buf.yaml": BUF_YAML, "pyproject.toml": pyproject(), A: clean})
    result = run_contracts("lint", "--format", "json", cwd=ws)
    assert (result.code, json.loads(result.stdout), result.stderr) == (0, [], "")
    text = run_contracts("lint", cwd=ws)
    assert (text.code, text.stdout, text.stderr) == (0, "", "")


def test_text_format(warn_ws: Path) -> None:
    (warn_ws / A).write_text(WITH_ERROR, encoding="utf-8")
    result = run_contracts("lint", cwd=warn_ws)
    assert (result.code, result.stderr) == (1, "")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(
        rf"{re.escape(A)}:3:1 PACKAGE_DIRECTORY_MATCH Files with package \"acme\.v2\" must be within .*",
        lines[0],
    )
    assert lines[1] == (
        f"{A}:6:1 SUPPRESSION_UNUSED contracts:ignore SUPPRESSION_REASON_MISSING suppresses "
        "nothing here; remove it"
    )


def test_github_format_levels(warn_ws: Path) -> None:
    (warn_ws / A).write_text(WITH_ERROR, encoding="utf-8")
    result = run_contracts("lint", "--format", "github", cwd=warn_ws)
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"::error file={A},line=3,col=1,title=PACKAGE_DIRECTORY_MATCH::")
    assert lines[1].startswith(f"::warning file={A},line=6,col=1,title=SUPPRESSION_UNUSED::")
    # The fix travels on an escaped second line of the same annotation.
    assert "%0AFix: " in lines[1]
    assert len(lines) == 2


def test_fail_on(warn_ws: Path) -> None:
    only_warning = run_contracts("lint", "--format", "json", cwd=warn_ws)
    findings = json.loads(only_warning.stdout)
    assert [(f["rule"], f["severity"]) for f in findings] == [("SUPPRESSION_UNUSED", "warning")]
    assert only_warning.code == 1  # --fail-on warning is the default
    assert run_contracts("lint", "--fail-on", "warning", cwd=warn_ws).code == 1
    relaxed = run_contracts("lint", "--fail-on", "error", cwd=warn_ws)
    # Still reported, just not failing.
    assert relaxed.code == 0
    assert "SUPPRESSION_UNUSED" in relaxed.stdout

    (warn_ws / A).write_text(WITH_ERROR, encoding="utf-8")
    assert run_contracts("lint", "--fail-on", "error", cwd=warn_ws).code == 1


def test_bad_option_values_are_usage_errors(warn_ws: Path) -> None:
    for args in (("lint", "--format", "xml"), ("lint", "--fail-on", "never"), ("nope",)):
        result = run_contracts(*args, cwd=warn_ws)
        assert result.code == 2, args
        assert "Traceback" not in result.stderr


def test_help_lists_commands_and_exit_codes(tmp_path: Path) -> None:
    result = run_contracts("--help", cwd=tmp_path)
    assert (result.code, result.stderr) == (0, "")
    text = " ".join(result.stdout.split())
    for command in ("lint", "breaking", "rules", "doctor"):
        assert re.search(rf"^\s+{command}\s+\S", result.stdout, re.MULTILINE), command
    assert (
        "Exit codes: 0 clean, 1 findings, 2 usage/config/tool error, 3 contracts do not compile"
        in text
    )
    assert run_contracts("-h", cwd=tmp_path).stdout == result.stdout


def test_readme_exit_code_table_is_the_one_definition() -> None:
    assert exit_code_table() in (REPO / "README.md").read_text(encoding="utf-8")


def test_command_help_documents_options(tmp_path: Path) -> None:
    text = " ".join(run_contracts("breaking", "--help", cwd=tmp_path).stdout.split())
    for option in ("--against", "--root", "--format", "--fail-on"):
        assert option in text
    assert "merge base with main" in text


def test_version(tmp_path: Path) -> None:
    result = run_contracts("--version", cwd=tmp_path)
    assert result.code == 0
    assert re.fullmatch(r"contracts, version \d+\.\d+\.\d+\n", result.stdout)


def test_rules_lists_every_registered_rule(tmp_path: Path) -> None:
    result = run_contracts("rules", cwd=tmp_path)
    assert result.code == 0
    headers = [line for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert headers == [
        f"{r.id} ({r.severity.value})" for r in sorted(all_rules().values(), key=lambda r: r.id)
    ]
