"""The compile step: one cached image per content digest, and lint through that image
agreeing with buf's own lint of the directory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, run_contracts, write_tree

from compat_checks.lint.engine import buf_lint_invocations
from contracts_core import buf
from contracts_core.errors import CompileError
from contracts_core.image import compile_workspace, content_digest
from contracts_core.workspace import Workspace

MakeWorkspace = Callable[[dict[str, str]], Path]

BUF_YAML = "version: v2\nmodules:\n  - path: proto\n"
A = "proto/acme/v1/a.proto"
GOOD = 'syntax = "proto3";\n\npackage acme.v1;\n\nmessage Order {\n  string id = 1;\n}\n'


class _NoBuf:
    def __init__(self, args: list[str], cwd: Path) -> None:
        raise AssertionError(f"buf {args[0]} ran; the cached image should have been used")


@pytest.fixture
def ws(make_workspace: MakeWorkspace) -> Path:
    return make_workspace({"buf.yaml": BUF_YAML, A: GOOD})


def open_ws(root: Path) -> Workspace:
    return Workspace.discover(root=root)


def test_unchanged_tree_reuses_the_cached_image(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = compile_workspace(open_ws(ws))
    assert first.path.parent == ws / ".contracts-cache" / "images"
    assert first.path.name == f"{first.digest}.binpb"
    assert first.targets == {"acme/v1/a.proto": A}
    assert [f.name for f in first.target_files()] == ["acme/v1/a.proto"]
    content = first.path.read_bytes()

    monkeypatch.setattr(buf, "BufProcess", _NoBuf)
    second = compile_workspace(open_ws(ws))
    assert (second.path, second.digest, second.targets) == (first.path, first.digest, first.targets)
    assert second.path.read_bytes() == content
    # Without the cache, buf must run: the stand-in proves it is in the path.
    with pytest.raises(AssertionError, match="buf build ran"):
        compile_workspace(open_ws(ws), use_cache=False)


def test_unchanged_tree_does_not_run_buf_build_from_the_cli(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Path(sys.executable).parent / "buf"
    log = tmp_path / "buf.log"
    wrapper = tmp_path / "buf-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "{real}" "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    monkeypatch.setenv("CONTRACTS_BUF", str(wrapper))
    for _ in range(2):
        assert run_contracts("lint", cwd=ws).code in (0, 1)
    ran = log.read_text(encoding="utf-8").split()
    assert ran.count("build") == 1
    assert ran.count("lint") == 2
    assert len(list((ws / ".contracts-cache" / "images").glob("*.binpb"))) == 1


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            {A: GOOD.replace("string id = 1;", "string id = 1;\n  string x = 2;")}, id="edit"
        ),
        pytest.param({A: GOOD + "\n"}, id="whitespace"),
        pytest.param({"buf.yaml": BUF_YAML + "# a comment\n"}, id="buf.yaml"),
        pytest.param({"proto/acme/v1/b.proto": GOOD.replace("Order", "Other")}, id="new-file"),
        pytest.param({"proto/.hidden/c.proto": 'syntax = "proto3";\n'}, id="hidden-dir"),
    ],
)
def test_any_input_change_gives_a_new_digest(ws: Path, change: dict[str, str]) -> None:
    before, _ = content_digest(open_ws(ws))
    first = compile_workspace(open_ws(ws))
    write_tree(ws, change)
    after, targets = content_digest(open_ws(ws))
    assert after != before
    second = compile_workspace(open_ws(ws))
    assert second.digest == after and second.path != first.path
    assert second.path.is_file() and first.path.is_file()
    # What buf compiled is exactly what we hashed.
    assert {f.name for f in second.target_files()} == set(targets)


def test_renamed_file_gives_a_new_digest(ws: Path) -> None:
    before, _ = content_digest(open_ws(ws))
    (ws / A).rename(ws / "proto/acme/v1/z.proto")
    after, targets = content_digest(open_ws(ws))
    assert after != before
    assert targets == {"acme/v1/z.proto": "proto/acme/v1/z.proto"}


def test_files_outside_the_modules_do_not_change_the_digest(ws: Path) -> None:
    before, _ = content_digest(open_ws(ws))
    write_tree(ws, {"README.md": "docs\n", "other/x.proto": GOOD, "proto/acme/v1/notes.txt": "x"})
    assert content_digest(open_ws(ws))[0] == before


def test_failed_compile_leaves_no_partial_image(ws: Path) -> None:
    good = compile_workspace(open_ws(ws))
    images = ws / ".contracts-cache" / "images"
    write_tree(ws, {A: GOOD.replace("string id = 1;", "string id = 1")})
    with pytest.raises(CompileError) as caught:
        compile_workspace(open_ws(ws))
    assert [(d.path, d.line) for d in caught.value.diagnostics] == [(A, 7)]
    assert sorted(p.name for p in images.iterdir()) == [good.path.name]
    # Fixed again: the earlier image is found by its digest, nothing new is written.
    write_tree(ws, {A: GOOD})
    assert compile_workspace(open_ws(ws)).path == good.path
    assert sorted(p.name for p in images.iterdir()) == [good.path.name]


def test_first_compile_failing_leaves_the_cache_empty(make_workspace: MakeWorkspace) -> None:
    ws = make_workspace({"buf.yaml": BUF_YAML, A: GOOD.replace("message", "mesage")})
    with pytest.raises(CompileError):
        compile_workspace(open_ws(ws))
    assert list((ws / ".contracts-cache" / "images").iterdir()) == []


def test_cache_keeps_only_recent_images(ws: Path) -> None:
    paths = set()
    for n in range(11):
        write_tree(ws, {A: GOOD + f"// {n}\n"})
        paths.add(compile_workspace(open_ws(ws)).path)
    assert len(paths) == 11
    kept = set((ws / ".contracts-cache" / "images").glob("*.binpb"))
    assert len(kept) == 8
    assert compile_workspace(open_ws(ws)).path in kept


# --- lint through the image == buf lint on the directory ----------------------------

Key = tuple[str, int, int, str]


def buf_dir_lint(root: Path) -> set[Key]:
    """buf's own lint of the workspace directory, as (file, line, column, rule)."""
    exe = Path(sys.executable).parent / "buf"
    proc = subprocess.run(
        [str(exe), "lint", "--error-format", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 100), proc.stderr
    out = set()
    for line in proc.stdout.splitlines():
        item: dict[str, Any] = json.loads(line)
        out.add((item["path"], item["start_line"], item["start_column"], item["type"]))
    return out


def image_lint(root: Path) -> set[Key]:
    """buf lint run on our compiled image the way `contracts lint` runs it."""
    ws = open_ws(root)
    image = compile_workspace(ws)
    return {
        (image.workspace_path(d.path), d.line, d.column, d.rule)
        for args in buf_lint_invocations(ws, image)
        for d in buf.run(args, cwd=ws.root).diagnostics
    }


def cli_lint_buf_findings(root: Path) -> set[Key]:
    result = run_contracts("lint", "--format", "json", cwd=root)
    assert result.code in (0, 1), result
    return {
        (f["file"], f["line"], f["column"], f["rule"])
        for f in json.loads(result.stdout)
        if f["source"] == "buf"
    }


def test_repo_contracts_lint_agrees_with_buf() -> None:
    assert buf_dir_lint(REPO) == set()
    assert image_lint(REPO) == set()
    assert cli_lint_buf_findings(REPO) == set()


LINT_BUF_YAML = """\
version: v2
modules:
  - path: proto
    excludes:
      - proto/skip
  - path: extra
    lint:
      use:
        - MINIMAL
        - FIELD_LOWER_SNAKE_CASE
      ignore_only:
        FIELD_LOWER_SNAKE_CASE:
          - ./extra/loose
lint:
  use:
    - STANDARD
  except:
    - PACKAGE_DIRECTORY_MATCH
  ignore:
    - proto/legacy/
    - extra/tight
  ignore_only:
    ENUM_ZERO_VALUE_SUFFIX:
      - proto/acme/v1/enums.proto
    FIELD_LOWER_SNAKE_CASE:
      - proto/acme/v1/b.proto
"""

LINT_FILES = {
    "buf.yaml": LINT_BUF_YAML,
    "proto/acme/v1/a.proto": """\
        syntax = "proto3";

        package acme.v1;

        message order {
          string ID = 1;
          // buf:lint:ignore FIELD_LOWER_SNAKE_CASE
          string badName = 2;
          string okName_x = 3;
        }

        enum Color {
          RED = 0;
        }

        service Thing {
          // buf:lint:ignore RPC_PASCAL_CASE
          rpc get(order) returns (order);
        }
        """,
    "proto/acme/v1/b.proto": """\
        syntax = "proto3";

        package acme.v1;

        message BMsg {
          string BadField = 1;
        }
        """,
    "proto/acme/v1/enums.proto": """\
        syntax = "proto3";

        package acme.v1;

        enum Shade {
          DARK = 0;
        }
        """,
    "proto/legacy/old.proto": """\
        syntax = "proto3";

        package legacy;

        message old_thing {
          string X = 1;
        }
        """,
    "proto/skip/s.proto": """\
        syntax = "proto3";

        package skip;

        message s_bad { string Y = 1; }
        """,
    "extra/loose/l.proto": """\
        syntax = "proto3";

        package loose.v1;

        message L {
          string Camel = 1;
        }
        """,
    "extra/tight/t.proto": """\
        syntax = "proto3";

        package tight.v1;

        message T {
          string Camel = 1;
          string badOne = 2;
        }
        """,
}


@pytest.fixture(scope="module")
def lint_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lintws")
    write_tree(root, LINT_FILES)
    return root


def test_image_lint_agrees_with_buf_dir_lint(lint_ws: Path) -> None:
    a = "proto/acme/v1/a.proto"
    expected = {
        # The module-level lint section of `extra` replaces the workspace's: MINIMAL
        # still checks directories, and its ignore_only spares only extra/loose.
        ("extra/loose/l.proto", 3, 1, "PACKAGE_DIRECTORY_MATCH"),
        ("extra/tight/t.proto", 3, 1, "PACKAGE_DIRECTORY_MATCH"),
        ("extra/tight/t.proto", 6, 10, "FIELD_LOWER_SNAKE_CASE"),
        ("extra/tight/t.proto", 7, 10, "FIELD_LOWER_SNAKE_CASE"),
        (a, 5, 9, "MESSAGE_PASCAL_CASE"),
        (a, 6, 10, "FIELD_LOWER_SNAKE_CASE"),
        (a, 9, 10, "FIELD_LOWER_SNAKE_CASE"),
        (a, 13, 3, "ENUM_VALUE_PREFIX"),
        (a, 13, 3, "ENUM_ZERO_VALUE_SUFFIX"),
        (a, 16, 9, "SERVICE_SUFFIX"),
        (a, 18, 3, "RPC_REQUEST_RESPONSE_UNIQUE"),
        (a, 18, 11, "RPC_REQUEST_STANDARD_NAME"),
        (a, 18, 27, "RPC_RESPONSE_STANDARD_NAME"),
        ("proto/acme/v1/enums.proto", 6, 3, "ENUM_VALUE_PREFIX"),
    }
    assert buf_dir_lint(lint_ws) == expected
    assert image_lint(lint_ws) == expected
    assert cli_lint_buf_findings(lint_ws) == expected


@pytest.mark.parametrize(
    "config",
    [
        # v1: one module at the root, ignore paths relative to it.
        "version: v1\nlint:\n  use: [STANDARD]\n  ignore:\n    - proto/legacy\n"
        "  ignore_only:\n    FIELD_LOWER_SNAKE_CASE:\n      - proto/acme\n",
        # v2 without modules: the workspace is the module.
        "version: v2\nlint:\n  use: [STANDARD]\n  ignore:\n    - proto/skip\n    - extra\n",
        # v2, one nested module with a top-level ignore_only.
        "version: v2\nmodules:\n  - path: proto\nlint:\n  use: [BASIC]\n"
        "  ignore_only:\n    MESSAGE_PASCAL_CASE:\n      - proto/legacy/old.proto\n",
    ],
    ids=["v1", "v2-root", "v2-module"],
)
def test_image_lint_agrees_with_buf_dir_lint_for_other_layouts(tmp_path: Path, config: str) -> None:
    write_tree(tmp_path, {**LINT_FILES, "buf.yaml": config})
    expected = buf_dir_lint(tmp_path)
    assert expected  # the fixture has something to say under each config
    assert image_lint(tmp_path) == expected
