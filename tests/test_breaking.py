"""`contracts breaking` end to end: real git histories, the real buf, exact findings.

Each test copies one small committed repository (built once per module), edits
its working tree on a feature branch and checks what `contracts breaking` says,
including who each finding breaks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, run_contracts, write_tree

A = "proto/acme/v1/a.proto"
B = "proto/acme/v1/b.proto"
GO, PY, JSON, WIRE = "go", "python", "json", "wire"

BUF_YAML = """\
version: v2
modules:
  - path: proto
breaking:
  use:
    - FILE
"""

A_PROTO = """\
syntax = "proto3";

package acme.v1;

message Order {
  string id = 1;
  int64 amount = 2;
  int32 count = 3;
  string note = 4;
  repeated string tags = 5;
  string extra = 6;
  repeated int32 codes = 7;
  Color color = 8;
}

enum Color {
  COLOR_UNSPECIFIED = 0;
}

enum Shade {
  SHADE_UNSPECIFIED = 0;
}

message Gone {
  string x = 1;
}

message Mover {
  string y = 1;
}

service OrderService {
  rpc Get(Order) returns (Order);
  rpc Drop(Order) returns (Order);
}
"""

B_PROTO = """\
syntax = "proto3";

package acme.v1;

message Other {
  string z = 1;
}
"""


def line_of(text: str, needle: str) -> int:
    """1-based line of the only line containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def init_repo(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    # .contracts-cache is what a real repo ignores; keep `git status` honest here too.
    write_tree(root, {".gitignore": ".contracts-cache/\n"})


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: one commit of the module; HEAD: a fresh feature branch off it."""
    root = tmp_path_factory.mktemp("base") / "repo"
    init_repo(root)
    write_tree(root, {"buf.yaml": BUF_YAML, A: A_PROTO, B: B_PROTO})
    commit_all(root, "contracts")
    git(root, "checkout", "-q", "-b", "feature")
    return root


@pytest.fixture
def repo(base_repo: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "repo"
    shutil.copytree(base_repo, dest, symlinks=True)
    return dest


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} not found exactly once in {rel}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def breaking_json(root: Path, *args: str, cwd: Path | None = None) -> tuple[int, list[Any]]:
    result = run_contracts("breaking", "--format", "json", *args, cwd=cwd or root)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code in (0, 1), result
    return result.code, json.loads(result.stdout)


def summary(findings: list[dict[str, Any]]) -> list[tuple[str, str, int, int, tuple[str, ...]]]:
    """(rule, file, line, column, breaks) of each finding, in output order."""
    return [
        (f["rule"], f["file"], f["line"], f["column"], tuple(f.get("breaks", ()))) for f in findings
    ]


def check(root: Path, expected: list[tuple[str, str, int, int, tuple[str, ...]]]) -> None:
    code, findings = breaking_json(root)
    assert summary(findings) == expected
    assert code == (1 if expected else 0)
    for f in findings:
        assert f["source"] == "buf"
        assert f["severity"] == "error"


def test_int64_to_string_breaks_everyone(repo: Path) -> None:
    edit(repo, A, "int64 amount = 2;", "string amount = 2;")
    line = line_of(A_PROTO, "amount = 2")
    check(repo, [("FIELD_SAME_TYPE", A, line, 3, (GO, PY, JSON, WIRE))])


def test_int32_to_int64_is_wire_and_json_compatible(repo: Path) -> None:
    edit(repo, A, "int32 count = 3;", "int64 count = 3;")
    line = line_of(A_PROTO, "count = 3")
    code, findings = breaking_json(repo)
    assert code == 1
    assert summary(findings) == [("FIELD_SAME_TYPE", A, line, 3, (GO, PY))]
    assert 'from "int32" to "int64"' in findings[0]["message"]


def test_enum_to_another_enum_breaks_json_but_not_wire(repo: Path) -> None:
    edit(repo, A, "Color color = 8;", "Shade color = 8;")
    line = line_of(A_PROTO, "color = 8")
    check(repo, [("FIELD_SAME_TYPE", A, line, 3, (GO, PY, JSON))])


def test_field_rename_breaks_source_and_json_not_wire(repo: Path) -> None:
    edit(repo, A, "string note = 4;", "string memo = 4;")
    line = line_of(A_PROTO, "note = 4")
    code, findings = breaking_json(repo)
    assert code == 1
    assert summary(findings) == [
        ("FIELD_SAME_JSON_NAME", A, line, 3, (JSON,)),
        ("FIELD_SAME_NAME", A, line, 10, (GO, PY, JSON)),
    ]
    assert not any(WIRE in f["breaks"] for f in findings)


def test_removed_field(repo: Path) -> None:
    edit(repo, A, "  string extra = 6;\n", "")
    check(repo, [("FIELD_NO_DELETE", A, line_of(A_PROTO, "message Order"), 1, (GO, PY, JSON))])


def test_removed_rpc_breaks_everyone(repo: Path) -> None:
    edit(repo, A, "  rpc Drop(Order) returns (Order);\n", "")
    line = line_of(A_PROTO, "service OrderService")
    code, findings = breaking_json(repo)
    assert summary(findings) == [("RPC_NO_DELETE", A, line, 1, (GO, PY, JSON, WIRE))]
    assert '"Drop"' in findings[0]["message"]
    assert code == 1


def test_message_moved_to_another_file_of_the_package_breaks_python_only(repo: Path) -> None:
    edit(repo, A, "message Mover {\n  string y = 1;\n}\n\n", "")
    edit(repo, B, "message Other {", "message Mover {\n  string y = 1;\n}\n\nmessage Other {")
    code, findings = breaking_json(repo)
    assert summary(findings) == [("MESSAGE_NO_DELETE", A, 1, 1, (PY,))]
    assert '"Mover"' in findings[0]["message"]
    assert code == 1


def test_message_deleted_outright_breaks_go_and_python(repo: Path) -> None:
    edit(repo, A, "message Gone {\n  string x = 1;\n}\n\n", "")
    code, findings = breaking_json(repo)
    assert summary(findings) == [("MESSAGE_NO_DELETE", A, 1, 1, (GO, PY))]
    assert '"Gone"' in findings[0]["message"]
    assert code == 1


def test_deleted_file_is_named_workspace_relative(repo: Path) -> None:
    (repo / B).unlink()
    code, findings = breaking_json(repo)
    assert summary(findings) == [("FILE_NO_DELETE", B, 1, 1, (GO, PY))]
    assert '"acme/v1/b.proto"' in findings[0]["message"]
    assert code == 1


def test_deleted_file_whose_types_moved_within_the_package_breaks_python_only(repo: Path) -> None:
    (repo / B).unlink()
    edit(repo, A, "message Gone {", "message Other {\n  string z = 1;\n}\n\nmessage Gone {")
    check(repo, [("FILE_NO_DELETE", B, 1, 1, (PY,))])


def test_repeated_string_to_singular(repo: Path) -> None:
    edit(repo, A, "repeated string tags = 5;", "string tags = 5;")
    line = line_of(A_PROTO, "tags = 5")
    check(repo, [("FIELD_SAME_CARDINALITY", A, line, 3, (GO, PY, JSON))])


def test_repeated_packable_scalar_to_singular_also_breaks_wire(repo: Path) -> None:
    edit(repo, A, "repeated int32 codes = 7;", "int32 codes = 7;")
    line = line_of(A_PROTO, "codes = 7")
    check(repo, [("FIELD_SAME_CARDINALITY", A, line, 3, (GO, PY, JSON, WIRE))])


def test_added_field_and_rpc_are_clean(repo: Path) -> None:
    edit(repo, A, "  Color color = 8;\n", "  Color color = 8;\n  string added = 9;\n")
    edit(
        repo,
        A,
        "  rpc Drop(Order) returns (Order);\n",
        "  rpc Drop(Order) returns (Order);\n  rpc Added(Order) returns (Order);\n",
    )
    fork = git(repo, "rev-parse", "main")[:12]
    note = f"contracts: baseline: merge base with main ({fork})\n"
    result = run_contracts("breaking", "--format", "json", cwd=repo)
    assert (result.code, json.loads(result.stdout), result.stderr) == (0, [], note)
    text = run_contracts("breaking", cwd=repo)
    assert (text.code, text.stdout, text.stderr) == (0, "", note)
    explicit = run_contracts("breaking", "--against", "main", cwd=repo)
    assert (explicit.code, explicit.stdout, explicit.stderr) == (0, "", "")


def test_default_baseline_is_the_merge_base_not_mains_tip(repo: Path) -> None:
    # main moves on after the feature branch forked: it adds a field the branch lacks.
    git(repo, "checkout", "-q", "main")
    edit(repo, B, "  string z = 1;\n", "  string z = 1;\n  string later = 2;\n")
    main_tip = commit_all(repo, "main moves on")
    git(repo, "checkout", "-q", "feature")
    fork = git(repo, "merge-base", "HEAD", "main")
    assert fork != main_tip

    code, findings = breaking_json(repo)
    assert (code, findings) == (0, [])
    for ref in ("main", main_tip):
        code, findings = breaking_json(repo, "--against", ref)
        assert code == 1
        assert summary(findings) == [
            ("FIELD_NO_DELETE", B, line_of(B_PROTO, "message Other"), 1, (GO, PY, JSON))
        ]
    assert breaking_json(repo, "--against", fork) == (0, [])


def test_against_a_commit_sha_and_committed_changes(repo: Path) -> None:
    base = git(repo, "rev-parse", "main")
    edit(repo, A, "int64 amount = 2;", "string amount = 2;")
    commit_all(repo, "feature work")
    expected = [("FIELD_SAME_TYPE", A, line_of(A_PROTO, "amount = 2"), 3, (GO, PY, JSON, WIRE))]
    for args in ((), ("--against", base), ("--against", "main")):
        code, findings = breaking_json(repo, *args)
        assert (code, summary(findings)) == (1, expected), args
    # Against the branch's own HEAD nothing changed.
    assert breaking_json(repo, "--against", "HEAD") == (0, [])


def buf_build(source: Path, out: Path) -> None:
    buf = Path(sys.executable).parent / "buf"
    subprocess.run([str(buf), "build", "-o", str(out)], cwd=source, check=True)


# Every format `buf build -o` writes (buf picks it from the name), compressed or
# not, and protoc's binary FileDescriptorSet under a name buf does not know.
IMAGE_NAMES = [
    "base.binpb",
    "base.bin",
    "base.json",
    "base.txtpb",
    "base.yaml",
    "base.binpb.gz",
    "base.json.gz",
    "base.txtpb.zst",
    "base.yaml.zst",
    "base.pb",
]


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_against_an_image_file(repo: Path, tmp_path: Path, name: str) -> None:
    image = tmp_path / name
    buf_build(repo, image)
    edit(repo, A, "int64 amount = 2;", "string amount = 2;")
    (repo / B).unlink()
    code, findings = breaking_json(repo, "--against", str(image))
    assert code == 1
    assert summary(findings) == [
        ("FIELD_SAME_TYPE", A, line_of(A_PROTO, "amount = 2"), 3, (GO, PY, JSON, WIRE)),
        # An image file records no layout; with one module the deleted file is still
        # named where it was in the workspace.
        ("FILE_NO_DELETE", B, 1, 1, (GO, PY)),
    ]
    # A relative path works the same.
    rel = os.path.relpath(image, repo)
    assert breaking_json(repo, "--against", rel) == (code, findings)


def test_against_a_compressed_image_of_unknown_format(repo: Path, tmp_path: Path) -> None:
    image = tmp_path / "base.pb.gz"
    image.write_bytes(b"\x1f\x8b")
    result = run_contracts("breaking", "--against", str(image), cwd=repo)
    assert result.code == 2
    assert "base.pb.gz: a compressed image must be named *.binpb" in result.stderr


def test_against_a_directory(repo: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(repo, old, ignore=shutil.ignore_patterns(".git"))
    edit(repo, A, "  string extra = 6;\n", "")
    code, findings = breaking_json(repo, "--against", str(old))
    assert code == 1
    assert summary(findings) == [
        ("FIELD_NO_DELETE", A, line_of(A_PROTO, "message Order"), 1, (GO, PY, JSON))
    ]
    # The baseline directory is only read.
    assert not (old / ".contracts-cache").exists()


def test_text_format(repo: Path) -> None:
    edit(repo, A, "  string extra = 6;\n", "")
    result = run_contracts("breaking", "--against", "main", cwd=repo)
    line = line_of(A_PROTO, "message Order")
    assert result.code == 1
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        f'{A}:{line}:1 FIELD_NO_DELETE Previously present field "6" with name "extra" on '
        'message "Order" was deleted. [breaks: Go source, Python source, JSON clients]'
    ]


def test_github_format(repo: Path) -> None:
    edit(repo, A, "  string extra = 6;\n", "")
    edit(repo, A, "int64 amount = 2;", "string amount = 2;")
    result = run_contracts("breaking", "--format", "github", cwd=repo)
    assert result.code == 1
    lines = result.stdout.splitlines()
    order, amount = line_of(A_PROTO, "message Order"), line_of(A_PROTO, "amount = 2")
    assert len(lines) == 2
    assert lines[0].startswith(
        f"::error file={A},line={order},col=1,title=FIELD_NO_DELETE::Previously present field"
    )
    assert lines[0].endswith("(breaks: Go source, Python source, JSON clients)")
    assert lines[1].startswith(f"::error file={A},line={amount},col=3,title=FIELD_SAME_TYPE::Field")
    assert lines[1].endswith("(breaks: Go source, Python source, JSON clients, binary wire)")


def test_fail_on_error_still_fails_on_breaking_changes(repo: Path) -> None:
    edit(repo, A, "  string extra = 6;\n", "")
    assert run_contracts("breaking", "--fail-on", "error", cwd=repo).code == 1


def test_baseline_that_predates_the_contracts_is_clean(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    init_repo(root)
    write_tree(root, {"README.md": "before the contracts\n"})
    before = commit_all(root, "readme")
    write_tree(root, {"buf.yaml": BUF_YAML, A: A_PROTO})
    commit_all(root, "contracts")
    edit(root, A, "  string extra = 6;\n", "")
    assert breaking_json(root, "--against", before) == (0, [])
    result = run_contracts("breaking", "--against", before[:12], cwd=root)
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr.splitlines()[-1] == (
        f"contracts: baseline {before[:12]} has no .proto files in its modules: nothing to compare"
    )
    assert breaking_json(root, "--against", "HEAD")[0] == 1


def test_baseline_with_buf_yaml_but_no_protos_is_clean(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    init_repo(root)
    write_tree(root, {"buf.yaml": BUF_YAML, "proto/README.md": "soon\n"})
    before = commit_all(root, "empty module")
    write_tree(root, {A: A_PROTO})
    assert breaking_json(root, "--against", before) == (0, [])


def logging_buf(tmp_path: Path) -> tuple[Path, Path]:
    """A wrapper around the real buf that logs each subcommand it runs."""
    real = Path(sys.executable).parent / "buf"
    log = tmp_path / "buf.log"
    wrapper = tmp_path / "buf-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "{real}" "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return wrapper, log


def builds(log: Path) -> int:
    if not log.exists():
        return 0
    return log.read_text(encoding="utf-8").split().count("build")


def test_baseline_image_cache_is_reused(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrapper, log = logging_buf(tmp_path)
    monkeypatch.setenv("CONTRACTS_BUF", str(wrapper))
    (repo / B).unlink()
    first = breaking_json(repo)
    assert builds(log) == 2  # the working tree and the baseline
    cached = list((repo / ".contracts-cache" / "against").glob("*.binpb"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns

    # Change the working tree again: only it is compiled; the baseline comes from the cache.
    edit(repo, A, "int64 amount = 2;", "string amount = 2;")
    second = breaking_json(repo)
    assert builds(log) == 3
    assert list((repo / ".contracts-cache" / "against").glob("*.binpb")) == cached
    assert cached[0].stat().st_mtime_ns == mtime
    # A cached baseline still knows where its files were.
    assert summary(first[1]) == [("FILE_NO_DELETE", B, 1, 1, (GO, PY))]
    assert summary(second[1]) == [
        ("FIELD_SAME_TYPE", A, line_of(A_PROTO, "amount = 2"), 3, (GO, PY, JSON, WIRE)),
        ("FILE_NO_DELETE", B, 1, 1, (GO, PY)),
    ]
    # Nothing changed: nothing is compiled at all.
    assert breaking_json(repo) == second
    assert builds(log) == 3


def test_baseline_cache_tells_commits_apart_for_a_root_module(tmp_path: Path) -> None:
    # buf.yaml without modules: one module at the workspace root ("."), the
    # common case the cache key must still tell apart by content.
    root = tmp_path / "repo"
    init_repo(root)
    one = 'syntax = "proto3";\n\npackage a.v1;\n\nmessage M {\n  string x = 1;\n}\n'
    two = one.replace("  string x = 1;\n", "  string x = 1;\n  string y = 2;\n")
    write_tree(root, {"buf.yaml": "version: v2\nbreaking:\n  use: [FILE]\n", "a/v1/m.proto": one})
    first = commit_all(root, "one")
    write_tree(root, {"a/v1/m.proto": two})
    commit_all(root, "two")
    write_tree(root, {"a/v1/m.proto": one})  # the working tree drops y again

    assert breaking_json(root, "--against", first) == (0, [])
    code, findings = breaking_json(root, "--against", "HEAD")
    assert code == 1
    assert summary(findings) == [("FIELD_NO_DELETE", "a/v1/m.proto", 5, 1, (GO, PY, JSON))]
    assert len(list((root / ".contracts-cache" / "against").glob("*.binpb"))) == 2


def test_baseline_is_not_extracted_inside_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the module at the workspace root, baseline copies of the protos inside
    # the workspace would be compiled by any other command running meanwhile.
    from compat_checks.breaking import baseline, run_breaking
    from contracts_core.image import build_image as real_build
    from contracts_core.image import compile_workspace
    from contracts_core.workspace import Workspace

    root = tmp_path / "repo"
    init_repo(root)
    body = 'syntax = "proto3";\n\npackage a.v1;\n\nmessage M {\n  string x = 1;\n}\n'
    write_tree(root, {"buf.yaml": "version: v2\n", "a/v1/m.proto": body})
    commit_all(root, "one")
    ws = Workspace.discover(root=root)
    image = compile_workspace(ws)
    seen: list[list[Path]] = []

    def spy(source: Path, out: Path) -> None:
        seen.append(sorted(root.rglob("*.proto")))
        real_build(source, out)

    monkeypatch.setattr(baseline, "build_image", spy)
    assert run_breaking(ws, image, "HEAD").findings == []
    assert seen == [[root / "a/v1/m.proto"]]


SUB_FILES = {"api/buf.yaml": BUF_YAML, f"api/{A}": A_PROTO, "README.md": "repo\n"}


def test_workspace_in_a_subdirectory_of_the_repo(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    init_repo(root)
    write_tree(root, SUB_FILES)
    commit_all(root, "contracts in api/")
    git(root, "checkout", "-q", "-b", "feature")
    edit(root, f"api/{A}", "int64 amount = 2;", "string amount = 2;")
    expected = [("FIELD_SAME_TYPE", A, line_of(A_PROTO, "amount = 2"), 3, (GO, PY, JSON, WIRE))]

    code, findings = breaking_json(root / "api")
    assert (code, summary(findings)) == (1, expected)
    # Again from the cache, from a nested folder, and from the top through --root.
    code, findings = breaking_json(root, cwd=root / "api" / "proto" / "acme")
    assert (code, summary(findings)) == (1, expected)
    result = run_contracts(
        "breaking", "--root", "api", "--against", "main", "--format", "json", cwd=root
    )
    assert result.code == 1, result
    assert summary(json.loads(result.stdout)) == expected


def test_breaking_from_a_nested_folder(repo: Path) -> None:
    edit(repo, A, "  string extra = 6;\n", "")
    code, findings = breaking_json(repo, cwd=repo / "proto" / "acme" / "v1")
    assert code == 1
    assert summary(findings)[0][:2] == ("FIELD_NO_DELETE", A)


MULTI_BUF_YAML = """\
version: v2
modules:
  - path: strict
    breaking:
      use: [FILE]
  - path: loose
    breaking:
      use: [WIRE]
"""


def proto(package: str, message: str, body: str) -> str:
    return f'syntax = "proto3";\n\npackage {package};\n\nmessage {message} {{\n{body}}}\n'


def test_modules_with_different_breaking_configs(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    init_repo(root)
    write_tree(
        root,
        {
            "buf.yaml": MULTI_BUF_YAML,
            "strict/s/v1/s.proto": proto("s.v1", "S", "  string a = 1;\n"),
            "strict/s/v1/gone.proto": proto("s.v1", "Gone", "  string a = 1;\n"),
            "loose/l/v1/l.proto": proto("l.v1", "L", "  string a = 1;\n  int64 n = 2;\n"),
        },
    )
    commit_all(root, "two modules")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "strict/s/v1/gone.proto").unlink()
    write_tree(
        root,
        {
            "strict/s/v1/s.proto": proto("s.v1", "S", "  string b = 1;\n"),
            # A rename is fine under WIRE; a varint turned string is not.
            "loose/l/v1/l.proto": proto("l.v1", "L", "  string b = 1;\n  string n = 2;\n"),
        },
    )
    expected = [
        ("FIELD_WIRE_COMPATIBLE_TYPE", "loose/l/v1/l.proto", 7, 3, (GO, PY, JSON, WIRE)),
        ("FILE_NO_DELETE", "strict/s/v1/gone.proto", 1, 1, (GO, PY)),
        ("FIELD_SAME_JSON_NAME", "strict/s/v1/s.proto", 6, 3, (JSON,)),
        ("FIELD_SAME_NAME", "strict/s/v1/s.proto", 6, 10, (GO, PY, JSON)),
    ]
    for _ in range(2):  # built, then from the cache
        code, findings = breaking_json(root)
        assert (code, summary(findings)) == (1, expected)
