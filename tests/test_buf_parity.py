"""`contracts lint` and `contracts breaking` report what bare buf reports on the same folder.

We run buf on a compiled image with a translated config; bare buf runs on the
directory with the config as written. For a sample of buf.yaml shapes (v2 with
one or several modules and workspace-relative ignores, v1, v1beta1 roots, a v1
buf.work.yaml, a local policy) the findings must be the same, finding for finding.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BufRow, bare_buf, buf_rows, run_contracts, write_tree

X_OLD = """\
syntax = "proto3";

package {pkg}.v1;

message Thing {{
  string id = 1;
  int64 count = 2;
  string badName = 3;
}}

enum Kind {{
  KIND_UNSPECIFIED = 0;
  KIND_A = 1;
}}

service ThingService {{
  rpc GetThing(Thing) returns (Thing);
}}
"""
X_NEW = (
    X_OLD.replace("int64 count", "string count")
    .replace("string badName", "string bad_name")
    .replace("  KIND_A = 1;\n", "")
)
Y = 'syntax = "proto3";\n\npackage {pkg}.v1;\n\nmessage Gone {{\n  string z = 1;\n}}\n'
LEGACY_OLD = (
    'syntax = "proto3";\n\npackage {pkg}.legacy;\n\nmessage Old {{\n  string BadField = 1;\n}}\n'
)
LEGACY_NEW = LEGACY_OLD.replace("string BadField", "int32 BadField")


def module(path: str, pkg: str) -> tuple[dict[str, str], dict[str, str]]:
    """The old and new files of one module at path (workspace-relative)."""
    base = "" if path == "." else f"{path}/"
    old = {
        f"{base}{pkg}/v1/x.proto": X_OLD.format(pkg=pkg),
        f"{base}{pkg}/v1/y.proto": Y.format(pkg=pkg),
        f"{base}{pkg}/legacy/l.proto": LEGACY_OLD.format(pkg=pkg),
    }
    new = {
        f"{base}{pkg}/v1/x.proto": X_NEW.format(pkg=pkg),
        f"{base}{pkg}/legacy/l.proto": LEGACY_NEW.format(pkg=pkg),
    }
    return old, new


def case(configs: dict[str, str], *modules: tuple[str, str]) -> dict[str, dict[str, str]]:
    old: dict[str, str] = dict(configs)
    new: dict[str, str] = dict(configs)
    for path, pkg in modules:
        o, n = module(path, pkg)
        old.update(o)
        new.update(n)
    return {"old": old, "new": new}


CASES = {
    "v2-root-module": case(
        {
            "buf.yaml": """\
version: v2
lint:
  use: [STANDARD]
  except: [SERVICE_SUFFIX]
  ignore: [acme/legacy]
  ignore_only:
    FIELD_LOWER_SNAKE_CASE: [acme/v1/x.proto]
breaking:
  use: [FILE]
  except: [ENUM_VALUE_NO_DELETE]
  ignore: [acme/legacy]
"""
        },
        (".", "acme"),
    ),
    "v2-modules-with-own-sections": case(
        {
            "buf.yaml": """\
version: v2
modules:
  - path: proto/strict
    lint:
      use: [STANDARD]
      ignore: [./proto/strict/acme/legacy/]
    breaking:
      use: [FILE]
      ignore_only:
        FIELD_SAME_TYPE: [proto/strict/acme/v1]
  - path: proto/loose
    excludes: [proto/loose/beta/legacy]
lint:
  use: [MINIMAL]
breaking:
  use: [WIRE_JSON]
  ignore: [proto/strict/acme/v1/x.proto]
"""
        },
        ("proto/strict", "acme"),
        ("proto/loose", "beta"),
    ),
    "v1-excludes": case(
        {
            "buf.yaml": """\
version: v1
build:
  excludes: [acme/legacy]
lint:
  use: [DEFAULT]
  ignore_only:
    ENUM_VALUE_PREFIX: [acme/v1]
breaking:
  use: [PACKAGE]
"""
        },
        (".", "acme"),
    ),
    "v1beta1-roots": case(
        {
            "buf.yaml": """\
version: v1beta1
build:
  roots: [left, right]
lint:
  use: [BASIC]
breaking:
  use: [FILE]
"""
        },
        ("left", "acme"),
        ("right", "beta"),
    ),
    "v1-work-yaml": case(
        {
            "buf.work.yaml": "version: v1\ndirectories: [one, two]\n",
            "one/buf.yaml": "version: v1\nlint:\n  use: [STANDARD]\n  ignore: [acme/legacy]\n"
            "breaking:\n  use: [WIRE]\n",
        },
        ("one", "acme"),
        ("two", "beta"),
    ),
    "v2-local-policy": case(
        {
            "buf.yaml": """\
version: v2
modules:
  - path: proto
lint:
  use: [MINIMAL]
breaking:
  use: [WIRE]
policies:
  - policy: strict.policy.yaml
    # buf reads a policy's ignore paths relative to the module, unlike lint's.
    ignore: [acme/legacy]
""",
            "strict.policy.yaml": "version: v2\nname: buf.build/acme/strict\n"
            "lint:\n  use: [STANDARD]\nbreaking:\n  use: [FILE]\n",
        },
        ("proto", "acme"),
    ),
}

Row = BufRow


def normal(rows: list[Row]) -> list[Row]:
    # buf reports a deleted file without a path, at 1:1; we place it where it was
    # when today's tree still has that place, and give no position without a file.
    return sorted(
        ("", r, 0, 0, m) if r == "FILE_NO_DELETE" or not f else (f, r, ln, c, m)
        for f, r, ln, c, m in rows
    )


def ours(args: list[str], cwd: Path) -> list[Row]:
    return normal(buf_rows(run_contracts(*args, "--format", "json", cwd=cwd)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_findings_match_bare_buf(name: str, tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    write_tree(old, CASES[name]["old"])
    write_tree(new, CASES[name]["new"])
    expected_lint = normal(bare_buf("lint", cwd=new))
    expected_breaking = normal(bare_buf("breaking", ".", "--against", str(old), cwd=new))
    # Every case has something to compare, in both commands.
    assert expected_lint and expected_breaking
    assert ours(["lint"], new) == expected_lint
    assert ours(["breaking", "--against", str(old)], new) == expected_breaking
