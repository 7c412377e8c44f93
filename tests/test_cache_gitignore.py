"""Our caches stay out of `git status` in a repository that never heard of us."""

from __future__ import annotations

from pathlib import Path

from conftest import git, run_contracts, run_contracts_env, write_tree

from codegen.gen import swap

TREE = {
    "buf.yaml": "version: v2\n",
    "pyproject.toml": '[tool.contracts]\ngo_module = "example.com/acme/gen"\n',
    "acme/v1/a.proto": """
        syntax = "proto3";
        package acme.v1;
        option go_package = "example.com/acme/gen/acme/v1;acmev1";
        message A { string id = 1; }
    """,
}


def _untracked(repo: Path) -> list[str]:
    status = git(repo, "status", "--porcelain", "--untracked-files=all")
    return sorted(line[3:] for line in status.splitlines())


def test_cache_folder_is_ignored_by_git_after_lint_breaking_and_gen(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "contracts")
    assert run_contracts("lint", cwd=tmp_path).code in (0, 1)
    assert run_contracts("breaking", "--against", "main", cwd=tmp_path).code == 0
    gen = run_contracts("gen", cwd=tmp_path)
    assert gen.code == 0, gen.stderr
    assert (tmp_path / ".contracts-cache" / "images").is_dir()
    assert (tmp_path / ".contracts-cache" / "against").is_dir()
    assert (tmp_path / ".contracts-cache" / ".gitignore").read_text().splitlines()[-1] == "*"
    # Only what gen wrote shows: no cache, no staging folder left behind.
    untracked = _untracked(tmp_path)
    assert untracked, "gen wrote nothing?"
    assert all(path.startswith("generated/") for path in untracked), untracked
    assert not any("/.gen-" in path for path in untracked), untracked


def test_a_cache_made_before_the_gitignore_existed_gets_one(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    git(tmp_path, "init", "-q")
    (tmp_path / ".contracts-cache" / "images").mkdir(parents=True)
    assert run_contracts("lint", cwd=tmp_path).code in (0, 1)
    assert (tmp_path / ".contracts-cache" / ".gitignore").is_file()
    assert [p for p in _untracked(tmp_path) if p.startswith(".contracts-cache")] == []


def test_a_killed_gens_staging_folder_stays_out_of_git_status(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    git(tmp_path, "init", "-q")
    killed = run_contracts_env("gen", cwd=tmp_path, env={swap.CRASH_ENV: "staged"})
    assert killed.code == -9, killed.stderr
    assert list((tmp_path / "generated").glob(".gen-*")), "the kill left no staging folder?"
    untracked = _untracked(tmp_path)
    assert not [p for p in untracked if "/.gen-" in p or p.startswith(".contracts-cache")]
