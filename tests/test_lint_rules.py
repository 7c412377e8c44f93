"""Our lint rules on their fixture workspaces: the exact findings, docs and settings.

Each folder of tests/fixtures/lint/ is a workspace whose expected.txt lists every
finding of our rules as `file:line:col RULE_ID severity`, in report order.
`UPDATE_GOLDEN=1 pytest tests/test_lint_rules.py` rewrites them: review each
change by hand, since a golden is a claim about what the rules should say.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from compat_checks.lint.engine import active_rules, check_image
from compat_checks.lint.registry import all_rules
from compat_checks.lint.rules._common import go_camel_case
from contracts_cli.cli import main
from contracts_core.descriptors import Kind, walk
from contracts_core.errors import ConfigError
from contracts_core.findings import Finding
from contracts_core.image import Image, compile_workspace
from contracts_core.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "lint"
FOLDERS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
SUPPRESSION_FOLDER = "SUPPRESSION"


def lint_fixture(name: str, tmp_path: Path) -> tuple[list[Finding], Image]:
    """Our findings for a fixture folder, linted in a copy so the repo stays clean."""
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root, ignore=shutil.ignore_patterns(".contracts-cache"))
    ws = Workspace.discover(root=root)
    image = compile_workspace(ws)
    findings = check_image(image, ws, active_rules(ws))
    return sorted(findings, key=Finding.sort_key), image


def golden(findings: list[Finding]) -> str:
    return "".join(f"{f.file}:{f.line}:{f.column} {f.rule} {f.severity.value}\n" for f in findings)


@pytest.mark.parametrize("name", FOLDERS)
def test_fixture_findings(name: str, tmp_path: Path) -> None:
    findings, _ = lint_fixture(name, tmp_path)
    expected = FIXTURES / name / "expected.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(golden(findings), encoding="utf-8")
    assert golden(findings) == expected.read_text(encoding="utf-8")


def test_every_rule_has_fixtures_and_docs() -> None:
    listed = {
        line.split()[1]
        for folder in FOLDERS
        for line in (FIXTURES / folder / "expected.txt").read_text().splitlines()
    }
    for rule in all_rules().values():
        folder = SUPPRESSION_FOLDER if rule.id.startswith("SUPPRESSION_") else rule.id
        assert folder in FOLDERS, f"{rule.id} has no fixture folder"
        assert rule.id in listed, f"no fixture triggers {rule.id}"
        for doc in (rule.rationale, rule.fix):
            assert doc.strip() and "\n" not in doc, f"{rule.id}: rationale and fix are one line"


def test_every_fixture_folder_has_a_rule() -> None:
    """A fixture folder whose rule is gone (renamed, or its module no longer loaded)
    would otherwise keep passing against an expected.txt of nothing."""
    known = set(all_rules()) | {SUPPRESSION_FOLDER, "CONFIG"}
    assert set(FOLDERS) <= known, f"fixture folders without a rule: {set(FOLDERS) - known}"


def test_every_rules_module_registers_rules() -> None:
    import pkgutil

    import compat_checks.lint.rules as package

    modules = {
        f"{package.__name__}.{m.name}"
        for m in pkgutil.iter_modules(package.__path__)
        if not m.name.startswith("_")
    }
    registering = {r.check.__module__ for r in all_rules().values()}
    assert modules == registering, modules ^ registering


def test_messages_name_the_element(tmp_path: Path) -> None:
    """Every finding's message names the element it is reported on, in every rule family."""
    families: set[str] = set()
    for name in FOLDERS:
        findings, image = lint_fixture(name, tmp_path)
        for finding in findings:
            rule = all_rules()[finding.rule]
            if rule.id.startswith("SUPPRESSION_"):
                continue
            proto = next(
                f for f in image.target_files() if image.workspace_path(f.name) == finding.file
            )
            candidates = [
                e
                for e in walk(proto)
                if e.kind is Kind.FILE
                or (e.location.line, e.location.column) == (finding.line, finding.column)
            ]
            names = {e.full_name if e.kind is not Kind.FILE else e.name for e in candidates}
            assert any(f"`{n}`" in finding.message for n in names), (finding, names)
            families.add(rule.check.__module__)
    expected = {
        r.check.__module__ for r in all_rules().values() if not r.id.startswith("SUPPRESSION_")
    }
    assert families == expected


def test_rules_command_lists_every_rule() -> None:
    result = CliRunner().invoke(main, ["rules"])
    assert result.exit_code == 0, result.output
    for rule in all_rules().values():
        assert f"{rule.id} ({rule.severity.value})" in result.output
        assert rule.fix in result.output


def test_unknown_rule_in_settings_is_a_config_error(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    root = make_workspace(
        {
            "pyproject.toml": '[tool.contracts.lint]\ndisable = ["NO_SUCH_RULE"]\n',
            "a/v1/a.proto": 'syntax = "proto3";\npackage a.v1;\n',
        }
    )
    with pytest.raises(ConfigError, match=r"pyproject\.toml:2: unknown rule ID 'NO_SUCH_RULE'"):
        active_rules(Workspace.discover(root=root))


# Go names protoc-gen-go 1.36 generated for these field names (checked with go build).
@pytest.mark.parametrize(
    ("proto_name", "go_name"),
    [
        ("get_foo", "GetFoo"),
        ("proto_reflect", "ProtoReflect"),
        ("XXX_unrecognized", "XXXUnrecognized"),
        ("size_cache", "SizeCache"),
        ("extension_map", "ExtensionMap"),
    ],
)
def test_go_camel_case(proto_name: str, go_name: str) -> None:
    assert go_camel_case(proto_name) == go_name
