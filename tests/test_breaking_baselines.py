"""How `contracts breaking` finds and reads its baseline: real git repositories, real buf.

A baseline without buf.yaml, one hidden from `git archive` by export-ignore, the
default branch when it is not `main`, and deleted files whose old place the
tree no longer has.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from conftest import git, run_contracts, write_tree

BUF = Path(sys.executable).parent / "buf"
A = "contracts/a/v1/a.proto"
B = "contracts/a/v1/b.proto"
A_PROTO = 'syntax = "proto3";\n\npackage a.v1;\n\nmessage M {\n  string x = 1;\n  int32 y = 2;\n}\n'
B_PROTO = 'syntax = "proto3";\n\npackage a.v1;\n\nmessage N {\n  string z = 1;\n}\n'
BUF_YAML = "version: v2\nmodules:\n  - path: contracts\nbreaking:\n  use: [FILE]\n"
FIELD_Y = ("FIELD_NO_DELETE", A, 5, 1, ("go", "python", "json"))
FILE_B = ("FILE_NO_DELETE", B, 1, 1, ("go", "python"))


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def new_repo(root: Path, branch: str = "main") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", branch)
    write_tree(root, {".gitignore": ".contracts-cache/\n"})
    return root


def drop_y_and_b(root: Path) -> None:
    (root / A).write_text(A_PROTO.replace("  int32 y = 2;\n", ""), encoding="utf-8")
    (root / B).unlink()


def breaking(root: Path, *args: str) -> tuple[int, list[tuple[Any, ...]], list[str]]:
    """Exit code, (rule, file, line, column, breaks) of each finding, and stderr lines."""
    result = run_contracts("breaking", "--format", "json", *args, cwd=root)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code in (0, 1), result
    found = [
        (f["rule"], f["file"], f["line"], f["column"], tuple(f.get("breaks", ())))
        for f in json.loads(result.stdout)
    ]
    return result.code, found, result.stderr.splitlines()


def bare_buf_breaking(root: Path, against: str) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [str(BUF), "breaking", "--against", against, "--error-format", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 100), proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


# --- 1. a baseline whose tree has no buf.yaml --------------------------------------


def test_tag_from_before_buf_yaml_is_read_with_this_workspaces_modules(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo")
    write_tree(root, {A: A_PROTO, B: B_PROTO})
    commit(root, "protos, before the repository adopted buf")
    git(root, "tag", "v1.0")
    write_tree(root, {"buf.yaml": BUF_YAML})
    commit(root, "adopt buf")
    drop_y_and_b(root)

    # buf itself sees breaks against the tag (read with a default module at the root).
    assert bare_buf_breaking(root, ".git#tag=v1.0")
    code, found, stderr = breaking(root, "--against", "v1.0")
    assert (code, found) == (1, [FIELD_Y, FILE_B])
    assert stderr == [
        "contracts: baseline v1.0 has no buf.yaml; read with this workspace's modules (contracts/)"
    ]
    # From the cache, the same answer and the same note.
    assert breaking(root, "--against", "v1.0") == (code, found, stderr)


def test_uncommitted_buf_yaml_reads_head_with_this_workspaces_modules(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo")
    write_tree(root, {A: A_PROTO, B: B_PROTO})
    commit(root, "protos")
    write_tree(root, {"buf.yaml": BUF_YAML})  # a newcomer's, not committed yet
    drop_y_and_b(root)
    code, found, stderr = breaking(root, "--against", "HEAD")
    assert (code, found) == (1, [FIELD_Y, FILE_B])
    assert stderr == [
        "contracts: baseline HEAD has no buf.yaml; read with this workspace's modules (contracts/)"
    ]


# --- 2. export-ignore must not hide the baseline -----------------------------------


def test_export_ignore_does_not_hide_the_baseline(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo")
    write_tree(
        root,
        {
            ".gitattributes": "buf.yaml export-ignore\ncontracts/** export-ignore\n",
            "buf.yaml": BUF_YAML,
            A: A_PROTO,
            B: B_PROTO,
        },
    )
    commit(root, "contracts, kept out of release tarballs")
    # git archive really leaves them out: that is what the baseline must not use.
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", "HEAD"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getnames() == [".gitattributes", ".gitignore"]
    git(root, "checkout", "-q", "-b", "feature")
    drop_y_and_b(root)
    code, found, stderr = breaking(root)
    assert (code, found) == (1, [FIELD_Y, FILE_B])
    assert stderr == [
        f"contracts: baseline: merge base with main ({git(root, 'rev-parse', 'main')[:12]})"
    ]


def test_baseline_files_are_read_as_committed_not_as_exported(tmp_path: Path) -> None:
    # export-subst would rewrite a file on export; the baseline is the committed bytes.
    root = new_repo(tmp_path / "repo")
    body = A_PROTO.replace("message M {", "// $Format:%H$\nmessage M {")
    write_tree(root, {".gitattributes": "*.proto export-subst\n", "buf.yaml": BUF_YAML, A: body})
    base = commit(root, "contracts")
    assert breaking(root, "--against", base) == (0, [], [])
    (root / A).write_text(body.replace("  int32 y = 2;\n", ""), encoding="utf-8")
    code, found, _ = breaking(root, "--against", base)
    assert (code, found) == (1, [("FIELD_NO_DELETE", A, 6, 1, ("go", "python", "json"))])


# --- 3. the default baseline --------------------------------------------------------


def test_default_baseline_on_a_repo_whose_branch_is_master(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo", branch="master")
    write_tree(root, {"buf.yaml": BUF_YAML, A: A_PROTO, B: B_PROTO})
    base = commit(root, "contracts")
    git(root, "checkout", "-q", "-b", "feature")
    drop_y_and_b(root)
    code, found, stderr = breaking(root)
    assert (code, found) == (1, [FIELD_Y, FILE_B])
    assert stderr == [f"contracts: baseline: merge base with master ({base[:12]})"]


def test_default_baseline_follows_origin_head(tmp_path: Path) -> None:
    upstream = new_repo(tmp_path / "upstream", branch="develop")
    write_tree(upstream, {"buf.yaml": BUF_YAML, A: A_PROTO, B: B_PROTO})
    base = commit(upstream, "contracts")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", str(upstream), str(clone)],
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert git(clone, "symbolic-ref", "--short", "refs/remotes/origin/HEAD") == "origin/develop"
    # A local `main` that has moved elsewhere must not win over the remote's HEAD.
    git(clone, "checkout", "-q", "-b", "main")
    drop_y_and_b(clone)
    (clone / A).write_text(A_PROTO, encoding="utf-8")
    commit(clone, "main drops b.proto")
    git(clone, "checkout", "-q", "-b", "feature", "origin/develop")
    drop_y_and_b(clone)
    code, found, stderr = breaking(clone)
    assert (code, found) == (1, [FIELD_Y, FILE_B])
    assert stderr == [f"contracts: baseline: merge base with origin/develop ({base[:12]})"]


def test_no_default_baseline_names_every_branch_tried(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo", branch="trunk")
    write_tree(root, {"buf.yaml": BUF_YAML, A: A_PROTO})
    commit(root, "contracts")
    result = run_contracts("breaking", cwd=root)
    assert result.code == 2
    assert result.stderr == (
        "contracts: no default baseline: none of main, master, origin/main, origin/master "
        "shares history with HEAD; pass --against REF|IMAGE|DIR\n"
    )


# --- 8. a deleted file keeps only a place today's tree has --------------------------


def test_deleted_file_from_a_module_that_moved_has_no_invented_path(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo")
    old_yaml = BUF_YAML.replace("path: contracts", "path: proto")
    write_tree(
        root, {"buf.yaml": old_yaml, "proto/a/v1/a.proto": A_PROTO, "proto/a/v1/b.proto": B_PROTO}
    )
    base = commit(root, "module in proto/")
    # The module moves to contracts/ and b.proto goes away.
    git(root, "mv", "proto", "contracts")
    write_tree(root, {"buf.yaml": BUF_YAML})
    (root / B).unlink()
    code, found, _ = breaking(root, "--against", base)
    assert (code, found) == (1, [("FILE_NO_DELETE", "", 0, 0, ("go", "python"))])
    text = run_contracts("breaking", "--against", base, cwd=root)
    assert text.stdout.splitlines() == [
        'FILE_NO_DELETE Previously present file "a/v1/b.proto" was deleted. '
        "[breaks: Go source, Python source]"
    ]
    github = run_contracts("breaking", "--against", base, "--format", "github", cwd=root)
    assert github.stdout.startswith("::error title=FILE_NO_DELETE::Previously present file")


def test_deleted_file_against_an_image_of_a_multi_module_workspace(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo")
    two = "version: v2\nmodules:\n  - path: contracts\n  - path: extra\nbreaking:\n  use: [FILE]\n"
    write_tree(
        root,
        {
            "buf.yaml": two,
            A: A_PROTO,
            B: B_PROTO,
            "extra/e/v1/e.proto": B_PROTO.replace("a.v1", "e.v1"),
        },
    )
    image = tmp_path / "base.binpb"
    subprocess.run([str(BUF), "build", "-o", str(image)], cwd=root, check=True, timeout=120)
    (root / B).unlink()
    # An image records no layout and two modules could have held the file: no path.
    code, found, _ = breaking(root, "--against", str(image))
    assert (code, found) == (1, [("FILE_NO_DELETE", "", 0, 0, ("go", "python"))])


def test_directory_without_buf_yaml_is_read_with_this_workspaces_modules(
    tmp_path: Path,
) -> None:
    old = tmp_path / "old"
    write_tree(old, {A: A_PROTO, B: B_PROTO})  # an unpacked release, say: no buf.yaml
    root = tmp_path / "repo"
    write_tree(root, {"buf.yaml": BUF_YAML, A: A_PROTO, B: B_PROTO})
    drop_y_and_b(root)
    # Bare buf reads it with one module at its root, so even a.proto looks deleted.
    messages = {d["message"] for d in bare_buf_breaking(root, str(old))}
    assert f'Previously present file "{A}" was deleted.' in messages
    code, found, stderr = breaking(root, "--against", str(old))
    assert (code, found) == (1, [FIELD_Y, FILE_B])
    assert stderr == [
        f"contracts: baseline {old} has no buf.yaml; read with this workspace's modules "
        "(contracts/)"
    ]
    assert not (old / ".contracts-cache").exists()
