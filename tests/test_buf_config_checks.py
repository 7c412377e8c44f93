"""buf.yaml settings that reach buf through our image checks: policies, check
plugins and v1 workspaces (buf.work.yaml). Each is honoured as buf honours it,
or refused with the file and line; none is dropped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, bare_buf, buf_rows, git, run_contracts, write_tree

PROTO = 'syntax = "proto3";\n\npackage a.v1;\n\nmessage M {\n  string x = 1;\n  int32 y = 2;\n}\n'
POLICY = (
    "version: v2\nname: buf.build/acme/strict\nbreaking:\n  use: [WIRE]\nlint:\n  use: [MINIMAL]\n"
)


# --- 5. policies ---------------------------------------------------------------------


def test_local_policy_is_honoured_as_buf_honours_it(tmp_path: Path) -> None:
    config = (
        "version: v2\nmodules:\n  - path: proto\nbreaking:\n  use: [FILE]\n"
        "policies:\n  - policy: policies/strict.yaml\n"
    )
    old, new = tmp_path / "old", tmp_path / "new"
    files = {"buf.yaml": config, "policies/strict.yaml": POLICY, "proto/a/v1/a.proto": PROTO}
    write_tree(old, files)
    write_tree(new, {**files, "proto/a/v1/a.proto": PROTO.replace("  int32 y = 2;\n", "")})
    ours = buf_rows(run_contracts("breaking", "--against", str(old), "--format", "json", cwd=new))
    assert ours == bare_buf("breaking", ".", "--against", str(old), cwd=new)
    # The policy's own finding is there, named after it as buf names it.
    assert [f[1:4] for f in ours] == [
        ("FIELD_NO_DELETE", 5, 1),
        ("FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED", 5, 1),
    ]
    assert ours[1][4].endswith(" (policies/strict.yaml)")


@pytest.mark.parametrize(
    ("policies", "line"),
    [
        ("policies: policies/strict.yaml\n", 4),
        ("policies:\n  - name: strict\n", 4),
    ],
)
def test_malformed_policies_are_refused_with_their_line(
    tmp_path: Path, policies: str, line: int
) -> None:
    write_tree(
        tmp_path,
        {"buf.yaml": f"version: v2\nlint:\n  use: [MINIMAL]\n{policies}", "a/v1/a.proto": PROTO},
    )
    for command in ("lint", "breaking"):
        result = (
            run_contracts(command, "--against", str(tmp_path), cwd=tmp_path)
            if command == "breaking"
            else run_contracts(command, cwd=tmp_path)
        )
        assert result.code == 2, result
        assert result.stderr == (
            f"contracts: buf.yaml:{line}: 'policies' must be a list of mappings, each with a "
            "'policy' string\n"
        )


def test_unknown_rule_in_a_policy_file_is_not_blamed_on_buf_yaml(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "buf.yaml": "version: v2\nlint:\n  use: [MINIMAL]\npolicies:\n  - policy: p.yaml\n",
            "p.yaml": "version: v2\nname: buf.build/acme/p\nlint:\n  use: [NOT_A_RULE]\n",
            "a/v1/a.proto": PROTO,
        },
    )
    result = run_contracts("lint", cwd=tmp_path)
    assert (result.code, result.stderr) == (
        2,
        'contracts: buf lint failed: Failure: "NOT_A_RULE" is not a known rule or category ID\n',
    )


# --- 6. check plugins ----------------------------------------------------------------


def test_missing_plugin_gets_bufs_own_message(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "buf.yaml": "version: v2\nlint:\n  use: [MINIMAL, PLUGIN_NO_BAD_FIELDS]\n"
            "breaking:\n  use: [FILE, PLUGIN_NO_BAD_FIELDS]\n"
            "plugins:\n  - plugin: buf-plugin-not-installed\n",
            "a/v1/a.proto": PROTO,
        },
    )
    for args in (("lint",), ("breaking", "--against", str(tmp_path))):
        result = run_contracts(*args, cwd=tmp_path)
        assert result.code == 2, result
        assert "not a known buf rule" not in result.stderr
        assert result.stderr == (
            f'contracts: buf {args[0]} failed: Failure: plugin "buf-plugin-not-installed" '
            'failed: exec: "buf-plugin-not-installed": executable file not found in $PATH\n'
        )


@pytest.fixture(scope="module")
def no_bad_fields_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real buf check plugin (bufplugin-go) that flags fields named `bad`."""
    source = tmp_path_factory.mktemp("plugin-src")
    shutil.copytree(REPO / "tests/fixtures/bufplugin", source, dirs_exist_ok=True)
    binary = source / "buf-plugin-no-bad-fields"
    subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=source,
        check=True,
        timeout=600,
        env={**os.environ, "CGO_ENABLED": "0"},
    )
    return binary


def test_installed_plugin_findings_come_through(tmp_path: Path, no_bad_fields_plugin: Path) -> None:
    bad = PROTO.replace("  int32 y = 2;\n", "  int32 y = 2;\n  string bad = 3;\n")
    write_tree(
        tmp_path,
        {
            "buf.yaml": "version: v2\nmodules:\n  - path: proto\nlint:\n  use: [MINIMAL, PLUGIN_NO_BAD_FIELDS]\n"
            f"plugins:\n  - plugin: {no_bad_fields_plugin}\n",
            "proto/a/v1/a.proto": bad,
        },
    )
    ours = buf_rows(run_contracts("lint", "--format", "json", cwd=tmp_path))
    assert ours == [
        ("proto/a/v1/a.proto", "PLUGIN_NO_BAD_FIELDS", 8, 3, 'field "a.v1.M.bad" is named bad')
    ]
    assert ours == bare_buf("lint", cwd=tmp_path)


# --- 7. v1 workspaces (buf.work.yaml) ------------------------------------------------

WORK = {
    "buf.work.yaml": "version: v1\ndirectories:\n  - proto\n  - vendor\n",
    # proto's own config: its ignore is relative to the module, as in any v1 buf.yaml.
    "proto/buf.yaml": "version: v1\nlint:\n  use: [STANDARD]\n  ignore: [a/v1/skip.proto]\n"
    "breaking:\n  use: [FILE]\nbuild:\n  excludes: [a/v1/draft]\n",
    "proto/a/v1/a.proto": 'syntax = "proto3";\n\npackage a.v1;\n\nimport "c/v1/c.proto";\n\n'
    "message M {\n  string x = 1;\n  c.v1.C c = 2;\n}\n",
    "proto/a/v1/skip.proto": 'syntax = "proto3";\n\npackage a.v1;\n\nmessage skip_me {\n  string X = 1;\n}\n',
    "proto/a/v1/draft/d.proto": "this is not protobuf\n",
    # vendor has no buf.yaml: buf's v1 defaults apply to it.
    "vendor/c/v1/c.proto": 'syntax = "proto3";\n\npackage c.v1;\n\nmessage C {\n  string Y = 1;\n  int32 n = 2;\n}\n',
}


def test_work_yaml_lint_matches_bare_buf(tmp_path: Path) -> None:
    write_tree(tmp_path, WORK)
    ours = buf_rows(run_contracts("lint", "--format", "json", cwd=tmp_path))
    assert ours == bare_buf("lint", cwd=tmp_path)
    assert [f[:2] for f in ours] == [("vendor/c/v1/c.proto", "FIELD_LOWER_SNAKE_CASE")]
    # From inside a directory the workspace is still the buf.work.yaml's.
    inner = buf_rows(run_contracts("lint", "--format", "json", cwd=tmp_path / "proto" / "a"))
    assert inner == ours


def test_work_yaml_breaking_against_git_and_directory(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, WORK)
    git(root, "init", "-q", "-b", "main")
    write_tree(root, {".gitignore": ".contracts-cache/\n"})
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "v1 workspace")
    old = tmp_path / "old"
    shutil.copytree(root, old, ignore=shutil.ignore_patterns(".git", ".contracts-cache"))
    (root / "vendor/c/v1/c.proto").write_text(
        WORK["vendor/c/v1/c.proto"].replace("  int32 n = 2;\n", ""), encoding="utf-8"
    )
    expected = bare_buf("breaking", ".", "--against", str(old), cwd=root)
    assert [f[:3] for f in expected] == [("vendor/c/v1/c.proto", "FIELD_NO_DELETE", 5)]
    for against in ("main", str(old)):
        result = run_contracts("breaking", "--against", against, "--format", "json", cwd=root)
        assert buf_rows(result) == expected, against
    nested = run_contracts("breaking", "--format", "json", cwd=root / "vendor" / "c")
    assert buf_rows(nested) == expected


def test_work_yaml_beside_buf_yaml_is_refused(tmp_path: Path) -> None:
    write_tree(tmp_path, {**WORK, "buf.yaml": "version: v1\n"})
    result = run_contracts("lint", cwd=tmp_path)
    assert result.code == 2
    assert result.stderr == (
        "contracts: buf.work.yaml: a buf.work.yaml and a buf.yaml in the same folder; buf "
        "refuses both, so keep buf.work.yaml and move buf.yaml into one of its directories\n"
    )


@pytest.mark.parametrize(
    ("directories", "message"),
    [
        (
            "  - proto\n  - vendor\n  - missing\n",
            "buf.work.yaml:5: module path 'missing' is not a directory",
        ),
        (
            "  - proto\n  - ../outside\n",
            "buf.work.yaml:4: directory '../outside' must be a folder inside the workspace",
        ),
    ],
)
def test_bad_work_yaml_directories_are_named_with_their_line(
    tmp_path: Path, directories: str, message: str
) -> None:
    write_tree(tmp_path, {**WORK, "buf.work.yaml": f"version: v1\ndirectories:\n{directories}"})
    result = run_contracts("lint", cwd=tmp_path)
    assert (result.code, result.stderr) == (2, f"contracts: {message}\n")
