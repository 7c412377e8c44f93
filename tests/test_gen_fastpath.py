"""The no-op fast path of `contracts gen` (codegen/entry.py + codegen/noop_stamp.py).

Whether a run took the fast path is observed, not inferred: every run here sets
PYTHONPROFILEIMPORTTIME, and the fast path is the one that never imports click.
Each invalidation test shows the change sends the run down the full path, that
the full path's answer is right, and that the run after it is fast again.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, copy_repo_workspace, run_contracts_env, write_tree

from codegen import noop_stamp
from contracts_core import sources
from contracts_core.image import content_digest
from contracts_core.workspace import Workspace

ALL = ("python", "go", "jsonschema")
UP_TO_DATE = "".join(f"{t}: up to date (generated/{t})\n" for t in ALL)
ENVELOPE = "contracts/fleet/tasks/v1/envelope.proto"


# What a no-op must not cost: the CLI framework, protobuf, YAML, templates, metadata.
HEAVY = {"click", "google.protobuf", "yaml", "jinja2", "importlib.metadata", "tomllib"}


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str  # without the import-time profile
    imported: set[str]

    @property
    def fast(self) -> bool:
        """Answered without the click CLI."""
        return "click" not in self.imported


def gen(root: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    result = run_contracts_env(
        "gen", *args, cwd=root, env={"PYTHONPROFILEIMPORTTIME": "1", **(env or {})}
    )
    imported: set[str] = set()
    stderr: list[str] = []
    for line in result.stderr.splitlines(keepends=True):
        if line.startswith("import time:"):
            imported.add(line.rsplit("|", 1)[-1].strip())
        else:
            stderr.append(line)
    return Run(result.code, result.stdout, "".join(stderr), imported)


def assert_fast_noop(root: Path, *args: str, expected: str = UP_TO_DATE) -> None:
    run = gen(root, *args)
    assert run.fast, run.stderr
    assert not run.imported & HEAVY
    assert (run.code, run.stdout, run.stderr) == (0, "", expected)


@pytest.fixture
def ws_root(tmp_path: Path) -> Path:
    """A generated, stamped copy of the repo's workspace."""
    root = copy_repo_workspace(tmp_path / "ws")
    first = gen(root)
    assert first.code == 0 and not first.fast, first.stderr
    assert noop_stamp.stamp_path(root).is_file()
    return root


def test_noop_prints_what_the_full_path_prints(ws_root: Path) -> None:
    for args in ((), ("--check",)):
        noop_stamp.stamp_path(ws_root).unlink()
        full = gen(ws_root, *args)
        assert not full.fast
        fast = gen(ws_root, *args)
        assert fast.fast
        assert (fast.code, fast.stdout, fast.stderr) == (full.code, full.stdout, full.stderr)
        assert (fast.code, fast.stderr) == (0, UP_TO_DATE)


def test_root_and_target_options(ws_root: Path, tmp_path: Path) -> None:
    assert_fast_noop(ws_root, "--target", "go", expected="go: up to date (generated/go)\n")
    both = "jsonschema: up to date (generated/jsonschema)\npython: up to date (generated/python)\n"
    assert_fast_noop(ws_root, "--target=jsonschema", "--check", "--target", "python", expected=both)
    elsewhere = gen(tmp_path, "--root", str(ws_root))
    assert elsewhere.fast and elsewhere.stderr == UP_TO_DATE
    # From a subdirectory the workspace is found as Workspace.discover finds it.
    assert gen(ws_root / "contracts/fleet", "--check").fast


def test_anything_else_goes_to_click(ws_root: Path) -> None:
    help_run = gen(ws_root, "--help")
    assert not help_run.fast and "--check" in help_run.stdout
    unknown = gen(ws_root, "--target", "rust")
    assert not unknown.fast and unknown.code == 2 and "unknown --target rust" in unknown.stderr
    # click would take the last --root; the fast path does not guess.
    assert not gen(ws_root, "--root", ".", "--root", ".").fast
    assert not gen(ws_root, "--target", "go", "--target", "go").fast


def test_a_target_checks_only_its_own_entry(ws_root: Path) -> None:
    edited = ws_root / "generated/python/fleet/tasks/v1/envelope_pb2.pyi"
    edited.write_bytes(edited.read_bytes() + b"# edited by hand\n")
    assert_fast_noop(ws_root, "--target", "go", expected="go: up to date (generated/go)\n")
    check = gen(ws_root, "--check", "--target", "python")
    assert not check.fast and check.code == 1
    assert "stale: generated/python/fleet/tasks/v1/envelope_pb2.pyi" in check.stdout
    # A check that found drift must not leave python vouched for.
    assert not gen(ws_root, "--check", "--target", "python").fast
    fixed = gen(ws_root, "--target", "python")
    assert not fixed.fast and "wrote: generated/python/fleet/tasks/v1/envelope_pb2.pyi" in (
        fixed.stdout
    )
    assert_fast_noop(ws_root)


def test_edited_proto_regenerates(ws_root: Path) -> None:
    proto = ws_root / ENVELOPE
    proto.write_text(proto.read_text().replace("// TraceContext", "// Changed. TraceContext", 1))
    run = gen(ws_root)
    assert not run.fast and run.code == 0
    assert "wrote: generated/python/fleet/tasks/v1/envelope_pb2.py" in run.stdout
    assert_fast_noop(ws_root)


def test_new_proto_is_generated(ws_root: Path) -> None:
    write_tree(
        ws_root,
        {
            "contracts/fleet/extra/v1/extra.proto": """
                syntax = "proto3";

                package fleet.extra.v1;

                option go_package = "github.com/fleet-platform/contracts/generated/go/fleet/extra/v1;extrav1";

                // Extra is new.
                message Extra {
                  // Id is an id.
                  string id = 1;
                }
            """
        },
    )
    run = gen(ws_root)
    assert not run.fast and run.code == 0, run.stderr
    assert "wrote: generated/python/fleet/extra/v1/extra_pb2.py" in run.stdout
    assert "wrote: generated/jsonschema/fleet/extra/v1/Extra.schema.json" in run.stdout
    assert_fast_noop(ws_root)


def test_deleted_proto_is_removed(ws_root: Path) -> None:
    (ws_root / "contracts/fleet/adapter/v1/adapter_service.proto").unlink()
    run = gen(ws_root)
    assert not run.fast and run.code == 0, run.stderr
    assert "removed: generated/python/fleet/adapter/v1/adapter_service_pb2.py" in run.stdout
    assert not (ws_root / "generated/python/fleet/adapter").exists()
    assert_fast_noop(ws_root)


def test_proto_outside_every_module_changes_nothing(ws_root: Path) -> None:
    # Not an input: the fast path discovers files as the workspace does.
    write_tree(ws_root, {"scratch/notes.proto": 'syntax = "proto3";\npackage scratch;\n'})
    assert_fast_noop(ws_root)


@pytest.mark.parametrize(
    ("name", "addition"),
    [
        ("buf.yaml", "# a comment\n"),
        ("pyproject.toml", 'disable = ["BOOL_AS_STRING"]'),
        ("buf.lock", "# Generated by buf. DO NOT EDIT.\nversion: v2\n"),
    ],
)
def test_config_change_takes_the_full_path(ws_root: Path, name: str, addition: str) -> None:
    path = ws_root / name
    if name == "pyproject.toml":
        text = path.read_text()
        assert "disable = []" in text
        path.write_text(text.replace("disable = []", addition))
    else:
        path.write_text((path.read_text() if path.exists() else "") + addition)
    run = gen(ws_root)
    assert not run.fast and (run.code, run.stderr) == (0, UP_TO_DATE)
    assert_fast_noop(ws_root)


def test_module_path_change_is_seen(ws_root: Path) -> None:
    # Same bytes under contracts/, but buf.yaml now excludes a directory.
    buf_yaml = ws_root / "buf.yaml"
    buf_yaml.write_text(
        buf_yaml.read_text().replace(
            "  - path: contracts\n",
            "  - path: contracts\n    excludes:\n      - contracts/fleet/adapter\n",
        )
    )
    run = gen(ws_root)
    assert not run.fast and run.code == 0, run.stderr
    assert "removed: generated/go/fleet/adapter/v1/adapter_service.pb.go" in run.stdout
    assert_fast_noop(ws_root)


def test_hand_edit_under_generated(ws_root: Path) -> None:
    for target, rel in (
        ("go", "go.mod"),
        ("jsonschema", "fleet/tasks/v1/TaskEnvelope.schema.json"),
    ):
        path = ws_root / "generated" / target / rel
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        check = gen(ws_root, "--check")
        assert not check.fast and check.code == 1
        assert f"stale: generated/{target}/{rel}" in check.stdout
        assert not gen(ws_root).fast
        assert path.read_bytes() == original
        assert_fast_noop(ws_root)
    # A new file, even a hidden one, is part of the tree.
    (ws_root / "generated/go/.stray").write_text("x")
    run = gen(ws_root)
    assert not run.fast and "removed: generated/go/.stray" in run.stdout


def test_droppings_under_generated_are_not_changes(ws_root: Path) -> None:
    (ws_root / "generated/python/fleet/__pycache__").mkdir()
    (ws_root / "generated/python/fleet/__pycache__/x.cpython-311.pyc").write_bytes(b"\0")
    # What `pip install generated/python` (not editable) leaves at the tree's top.
    write_tree(ws_root / "generated/python", {"build/lib/fleet/x.py": "", "dist/x.whl": ""})
    assert_fast_noop(ws_root)
    # The full path agrees: no `extra:` files.
    noop_stamp.stamp_path(ws_root).unlink()
    full = gen(ws_root, "--check")
    assert not full.fast and (full.code, full.stdout, full.stderr) == (0, "", UP_TO_DATE)


def test_a_running_gen_or_a_dead_runs_staging_takes_the_full_path(ws_root: Path) -> None:
    import fcntl
    import subprocess
    import time

    fd = os.open(noop_stamp.lock_path(ws_root), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        exe = Path(sys.executable).parent / "contracts"
        proc = subprocess.Popen([str(exe), "gen"], cwd=ws_root, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1.5)
            assert proc.poll() is None, "gen did not wait for the lock"
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        _, err = proc.communicate(timeout=120)
    finally:
        os.close(fd)
    assert proc.returncode == 0
    assert err == "contracts: waiting for another contracts gen in this workspace to finish\n" + (
        UP_TO_DATE
    )
    (ws_root / "generated/.gen-dead/new").mkdir(parents=True)
    run = gen(ws_root)
    assert not run.fast and (run.code, run.stderr) == (0, UP_TO_DATE)
    assert not (ws_root / "generated/.gen-dead").exists()
    assert_fast_noop(ws_root)


def test_cleared_caches_take_the_full_path(ws_root: Path) -> None:
    for cleared in ("gen/python.json", "images"):
        target = ws_root / ".contracts-cache" / cleared
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
        run = gen(ws_root)
        assert not run.fast and (run.code, run.stderr) == (0, UP_TO_DATE)
        assert_fast_noop(ws_root)


def test_copied_workspace_with_its_cache_takes_the_full_path(ws_root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(ws_root, copy, symlinks=True)
    run = gen(copy)
    assert not run.fast and (run.code, run.stderr) == (0, UP_TO_DATE)
    assert_fast_noop(copy)


def _buf_wrapper(directory: Path) -> Path:
    wrapper = directory / "buf"
    wrapper.write_text(f'#!/bin/sh\nexec {REPO / ".venv/bin/buf"} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def test_changed_tool_binary_takes_the_full_path(ws_root: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = _buf_wrapper(bin_dir)
    env = {"CONTRACTS_BUF": str(wrapper)}
    run = gen(ws_root, env=env)
    assert not run.fast and (run.code, run.stderr) == (0, UP_TO_DATE)
    assert gen(ws_root, env=env).fast
    # The same path, other bytes.
    wrapper.write_text(wrapper.read_text() + "# rebuilt\n")
    assert not gen(ws_root, env=env).fast
    assert gen(ws_root, env=env).fast
    # Back to the venv's buf.
    assert not gen(ws_root).fast
    assert gen(ws_root).fast


def test_tool_found_on_path_is_identified(ws_root: Path, tmp_path: Path) -> None:
    # go comes from PATH; a different go earlier on PATH is a different tool.
    real_go = shutil.which("go")
    assert real_go is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "go").symlink_to(real_go)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    assert not gen(ws_root, env=env).fast  # found elsewhere: not vouched for
    assert gen(ws_root, env=env).fast
    (bin_dir / "go").unlink()
    # Another go binary: the full path rebuilds with it (the same bytes come out).
    (bin_dir / "go").write_text(f'#!/bin/sh\nexec {real_go} "$@"\n')
    (bin_dir / "go").chmod(0o755)
    run = gen(ws_root, env=env)
    assert not run.fast and (run.code, run.stderr) == (0, UP_TO_DATE)
    assert gen(ws_root, env=env).fast


def test_template_override_folder_is_covered(ws_root: Path) -> None:
    (ws_root / "tpl").mkdir()
    pyproject = ws_root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("[tool.contracts]\n", '[tool.contracts]\ntemplates = "tpl"\n')
    )
    assert not gen(ws_root).fast
    assert_fast_noop(ws_root)
    (ws_root / "tpl/unused.txt").write_text("a new file in the override folder\n")
    run = gen(ws_root)
    assert not run.fast and (run.code, run.stderr) == (0, UP_TO_DATE)
    assert_fast_noop(ws_root)
    # The setting now names a folder that is gone: click reports it.
    shutil.rmtree(ws_root / "tpl")
    gone = gen(ws_root)
    assert not gone.fast and gone.code == 2 and "templates folder" in gone.stderr


# --- the stamp's functions, directly ---------------------------------------------


def _recipe_and_fingerprint(root: Path) -> tuple[noop_stamp.Recipe, str]:
    stamp = noop_stamp._load_stamp(root)
    recipe = stamp["recipe"]
    assert isinstance(recipe, dict)
    return recipe, noop_stamp.fingerprint(root, recipe).digest


def test_fingerprint_covers_generator_code_and_templates(
    ws_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe, before = _recipe_and_fingerprint(ws_root)
    package, core = tmp_path / "codegen", tmp_path / "contracts_core"
    for copy, original in zip((package, core), noop_stamp.PACKAGE_DIRS, strict=True):
        shutil.copytree(original, copy)
    monkeypatch.setattr(noop_stamp, "PACKAGE_DIRS", (package, core))
    assert noop_stamp.fingerprint(ws_root, recipe).digest == before
    edits = [
        ("gen/python_target.py", "# changed\n"),
        ("gen/templates/go_client/service.go.j2", "{# changed #}\n"),
        ("gen/templates/go_client/new_template.go.tmpl", "new\n"),
        ("../contracts_core/bufconfig.py", "# changed\n"),
        ("../contracts_core/golang.py", "# changed\n"),
    ]
    seen = {before}
    for rel, text in edits:
        path = package / rel
        path.write_text((path.read_text() if path.exists() else "") + text)
        digest = noop_stamp.fingerprint(ws_root, recipe).digest
        assert digest not in seen, rel
        seen.add(digest)
    # Bytecode is not source.
    (package / "gen/__pycache__").mkdir(exist_ok=True)
    (package / "gen/__pycache__/x.cpython-311.pyc").write_bytes(b"\0")
    assert noop_stamp.fingerprint(ws_root, recipe).digest in seen


def test_fingerprint_covers_installed_distributions(
    ws_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    recipe, _ = _recipe_and_fingerprint(ws_root)
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    before = noop_stamp.fingerprint(ws_root, recipe).digest
    # A grpcio-tools that shadows the venv's, as `pip install --target` would add.
    (site / "grpcio_tools-9.9.9.dist-info").mkdir()
    assert noop_stamp.fingerprint(ws_root, recipe).digest != before


def test_proto_discovery_matches_the_workspace(tmp_path: Path) -> None:
    files = {
        "buf.yaml": (
            "version: v2\nmodules:\n  - path: a\n    excludes: [a/skip, a/x/]\n  - path: b\n"
            "  - path: .\n    excludes: [a, b]\n"
        ),
        "a/p/one.proto": "",
        "a/.hidden/two.proto": "",
        "a/skip/no.proto": "",
        "a/x/no.proto": "",
        "a/xy/yes.proto": "",
        "b/three.proto": "",
        "b/not_proto.txt": "",
        "top.proto": "",
        "c/deep/four.proto": "",
    }
    write_tree(tmp_path, files)
    ws = Workspace.discover(root=tmp_path)
    modules = [(m.path, list(m.excludes)) for m in ws.buf.modules]
    assert noop_stamp.proto_paths(tmp_path, modules) == [p.path for p in ws.proto_files()]
    recipe = {
        "root": str(tmp_path),
        "modules": [list(m) for m in modules],
        "buf_pin": "1.75.0",
        "templates": None,
        "tools": [],
    }
    assert noop_stamp.fingerprint(tmp_path, recipe).image_digest == content_digest(ws)[0]


def test_tree_files_match_rglob_semantics(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "a.txt": "a",
            ".hidden/b.txt": "b",
            "x/__pycache__/c.pyc": "c",
            "x/pkg.egg-info/PKG-INFO": "d",
            "x/y/e.py": "e",
            "x/y/f.pyc": "f",
            # pip's build folders are droppings at the top only: a package may be called build.
            "build/lib/g.py": "g",
            "dist/h.whl": "h",
            "x/build/i.py": "i",
        },
    )
    (tmp_path / "link.txt").symlink_to(tmp_path / "a.txt")
    (tmp_path / "linked_dir").symlink_to(tmp_path / "x")
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    expected = {
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if p.is_file()
        and not any(
            part in ("__pycache__", ".mypy_cache") or part.endswith((".egg-info", ".pyc"))
            for part in p.relative_to(tmp_path).parts
        )
        and p.relative_to(tmp_path).parts[0] not in ("build", "dist")
    }
    assert (
        set(sources.tree_files(tmp_path))
        == expected
        == {"a.txt", ".hidden/b.txt", "link.txt", "x/y/e.py", "x/build/i.py"}
    )


@pytest.mark.parametrize(
    "path", ["", ":", "/nonexistent:/usr/bin", "/usr/bin:/usr/bin:/bin", "/bin::/usr/bin"]
)
def test_which_matches_shutil(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", path)
    for name in ("sh", "go", "ls", "no-such-tool", "buf"):
        assert noop_stamp.which(name) == shutil.which(name)


@pytest.mark.parametrize(
    ("args", "parsed"),
    [
        (["gen"], (None, [], False)),
        (["gen", "--check", "--root", "x", "--target=go"], ("x", ["go"], True)),
        (["gen", "--target", "go", "--target", "python"], (None, ["go", "python"], False)),
        (["gen", "--root"], None),
        (["gen", "--root", "--check"], None),
        (["gen", "--root="], None),
        (["gen", "--check", "--check"], None),
        (["gen", "-h"], None),
        (["gen", "extra"], None),
        (["gen", "--"], None),
        (["lint"], None),
        (["--version"], None),
        ([], None),
    ],
)
def test_parse_gen_args(args: list[str], parsed: object) -> None:
    assert noop_stamp.parse_gen_args(args) == parsed
