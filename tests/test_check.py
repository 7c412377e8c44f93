"""`contracts check`: lint, breaking and gen --check in one run, one report, one exit code."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import copy_repo_workspace, git, run_contracts


def _workspace(tmp_path: Path) -> Path:
    """This repo's contracts, generated and committed on main, as a CI checkout has them."""
    root = copy_repo_workspace(tmp_path / "ws")
    gen = run_contracts("gen", cwd=root)
    assert gen.code == 0, gen.stderr
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "contracts")
    return root


def test_a_clean_workspace_passes_every_gate(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    result = run_contracts("check", cwd=root)
    assert (result.code, result.stdout) == (0, ""), result.stderr
    for line in ("lint: 0 finding(s)", "0 finding(s)", "gen python: up to date"):
        assert line in result.stderr


def test_findings_of_every_gate_in_one_report(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    # A breaking change with a lint hazard, and a hand edit under generated/.
    tasks = root / "contracts/fleet/tasks/v1/task_service.proto"
    text = tasks.read_text()
    assert "string task_id = 1;" in text
    tasks.write_text(text.replace("string task_id = 1;", "int64 task_id = 1;", 1))
    edited = root / "generated/go/go.mod"
    edited.write_text(edited.read_text() + "// edited\n")
    result = run_contracts("check", "--format", "json", cwd=root)
    assert result.code == 1, result.stderr
    findings = json.loads(result.stdout)
    rules = {(f["rule"], f["file"]) for f in findings}
    assert ("GEN_DRIFT", "generated/go/go.mod") in rules
    assert ("FIELD_SAME_TYPE", "contracts/fleet/tasks/v1/task_service.proto") in rules
    # The changed field is now an int64 id that travels as JSON: our own lint rule.
    assert ("INT64_JSON_PRECISION", "contracts/fleet/tasks/v1/task_service.proto") in rules
    # gen --check wrote nothing: the edit is still there.
    assert edited.read_text().endswith("// edited\n")
    text_report = run_contracts("check", cwd=root)
    assert "generated/go/go.mod: GEN_DRIFT this file differs" in text_report.stdout


def test_a_gate_that_cannot_run_gives_its_own_exit_code(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    result = run_contracts("check", "--against", "no-such-ref", cwd=root)
    assert result.code == 2, result.stderr
    assert "--against no-such-ref" in result.stderr
    broken = root / "contracts/fleet/tasks/v1/task_service.proto"
    broken.write_text(broken.read_text() + "\nmessage {\n")
    assert run_contracts("check", cwd=root).code == 3
