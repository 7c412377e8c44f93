"""`contracts gen --target python`: installable stubs, drift gate, atomic writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import (
    REPO,
    broken_mypy_plugin,
    copy_repo_workspace,
    run_contracts,
    run_contracts_env,
    write_tree,
)

from codegen.gen import tree


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The repo's contracts and config in a fresh workspace, generated once."""
    root = copy_repo_workspace(tmp_path / "ws")
    result = run_contracts("gen", cwd=root)
    assert result.code == 0, result.stderr
    return root


def test_committed_python_stubs_match_the_contracts() -> None:
    result = run_contracts("gen", "--check", cwd=REPO)
    assert result.code == 0, result.stdout + result.stderr
    assert "python: up to date" in result.stderr
    assert "go: up to date" in result.stderr
    assert "jsonschema: up to date" in result.stderr


def test_generation_is_byte_for_byte_reproducible(repo_copy: Path, tmp_path: Path) -> None:
    # A second workspace at another path must produce the same bytes as the first
    # and as the committed tree.
    other = tmp_path / "elsewhere" / "ws"
    shutil.copytree(
        repo_copy, other, ignore=shutil.ignore_patterns("generated", ".contracts-cache")
    )
    assert run_contracts("gen", cwd=other).code == 0
    for target in ("python", "go", "jsonschema"):
        for candidate in (other, REPO):
            diff = tree.compare(repo_copy / "generated" / target, candidate / "generated" / target)
            assert not diff.changed, (target, candidate, diff)


def test_check_lists_stale_missing_and_extra_files(repo_copy: Path) -> None:
    proto = repo_copy / "contracts/fleet/tasks/v1/task_payloads.proto"
    proto.write_text(
        proto.read_text().replace("// GenerateReportTask", "// Edited. GenerateReportTask", 1)
    )
    extra = repo_copy / "generated/python/fleet/tasks/v1/leftover_pb2.py"
    extra.write_text("# no longer generated\n")
    (repo_copy / "generated/python/fleet/adapter/v1/adapter_service_pb2.pyi").unlink()
    before = {p: p.read_bytes() for p in (repo_copy / "generated/python").rglob("*") if p.is_file()}

    result = run_contracts("gen", "--check", cwd=repo_copy)

    assert result.code == 1
    lines = set(result.stdout.splitlines())
    # A comment edit reaches the .pyi docstrings only; descriptors carry no comments.
    assert "stale: generated/python/fleet/tasks/v1/task_payloads_pb2.pyi" in lines
    assert "missing: generated/python/fleet/adapter/v1/adapter_service_pb2.pyi" in lines
    assert "extra: generated/python/fleet/tasks/v1/leftover_pb2.py" in lines
    after = {p: p.read_bytes() for p in (repo_copy / "generated/python").rglob("*") if p.is_file()}
    assert after == before, "--check must write nothing"

    assert run_contracts("gen", cwd=repo_copy).code == 0
    assert not extra.exists()
    assert run_contracts("gen", "--check", cwd=repo_copy).code == 0


def test_failing_plugin_leaves_previous_tree_intact(repo_copy: Path, tmp_path: Path) -> None:
    plugin = broken_mypy_plugin(tmp_path)
    proto = repo_copy / "contracts/fleet/tasks/v1/task_payloads.proto"
    proto.write_text(
        proto.read_text().replace("// GenerateReportTask", "// Edited. GenerateReportTask", 1)
    )
    out = repo_copy / "generated/python"
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    env_result = run_contracts_env(
        "gen", cwd=repo_copy, env={"CONTRACTS_PROTOC_GEN_MYPY": str(plugin)}
    )

    assert env_result.code == 2
    assert "python generation failed" in env_result.stderr
    assert "Traceback" not in env_result.stderr
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert not list((repo_copy / "generated").glob(".gen-*")), "staging dir left behind"


def test_unknown_target_is_a_usage_error(repo_copy: Path) -> None:
    result = run_contracts("gen", "--target", "rust", cwd=repo_copy)
    assert result.code == 2
    assert "unknown --target rust" in result.stderr


SAMPLE = """
from __future__ import annotations

from concurrent import futures

import grpc

from fleet.tasks.v1 import envelope_pb2, task_payloads_pb2, task_service_pb2, task_service_pb2_grpc


class Tasks(task_service_pb2_grpc.TaskServiceServicer):
    def SubmitTask(
        self, request: task_service_pb2.SubmitTaskRequest, context: grpc.ServicerContext
    ) -> task_service_pb2.SubmitTaskResponse:
        if request.task.WhichOneof("payload") is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown task type")
        return task_service_pb2.SubmitTaskResponse(task_id=request.task.task_id + "-accepted")

    def GetTaskStatus(
        self, request: task_service_pb2.GetTaskStatusRequest, context: grpc.ServicerContext
    ) -> task_service_pb2.GetTaskStatusResponse:
        context.abort(grpc.StatusCode.NOT_FOUND, f"no task {request.task_id}")


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    task_service_pb2_grpc.add_TaskServiceServicer_to_server(Tasks(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = task_service_pb2_grpc.TaskServiceStub(channel)
            task = envelope_pb2.TaskEnvelope(
                task_id="t-1",
                attempt=1,
                generate_report=task_payloads_pb2.GenerateReportTask(report_id="r-9"),
            )
            reply = stub.SubmitTask(task_service_pb2.SubmitTaskRequest(task=task), timeout=5)
            assert reply.task_id == "t-1-accepted", reply
            try:
                stub.SubmitTask(task_service_pb2.SubmitTaskRequest(), timeout=5)
            except grpc.RpcError as err:
                assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err
            else:
                raise AssertionError("expected INVALID_ARGUMENT")
            print("round trip ok")
    finally:
        server.stop(grace=None)


if __name__ == "__main__":
    main()
"""


def test_typed_sample_passes_mypy_strict_and_round_trips_over_grpc(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent(SAMPLE))
    bindir = Path(sys.executable).parent
    # Run from tmp_path: the stubs must import from the installed package, no sys.path edits.
    typed = subprocess.run(
        [str(bindir / "mypy"), "--strict", "--no-incremental", str(sample)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert typed.returncode == 0, typed.stdout + typed.stderr
    ran = subprocess.run(
        [sys.executable, str(sample)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert "round trip ok" in ran.stdout


ROOT_LEVEL = {
    "buf.yaml": "version: v2\n",
    "thing.proto": """
        syntax = "proto3";
        package thing;
        import "other.proto";
        // Thing is a thing.
        message Thing {
          // Name names it.
          string name = 1;
          // Other is another.
          other.Other other = 2;
        }
        // Things serves things.
        service Things {
          // Get gets one.
          rpc Get(Thing) returns (Thing);
        }
    """,
    "other.proto": 'syntax = "proto3";\npackage other;\nmessage Other { string b = 1; }\n',
    "nested/v1/deep.proto": 'syntax = "proto3";\npackage nested.v1;\nmessage Deep {}\n',
}


def _pip_install(source: Path, target: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr


def test_protos_at_the_module_root_install_and_import(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_tree(root, ROOT_LEVEL)
    result = run_contracts("gen", "--target", "python", cwd=root)
    assert result.code == 0, result.stderr
    site = tmp_path / "site"
    _pip_install(root / "generated/python", site)
    installed = {p.name for p in site.iterdir()}
    assert {"thing_pb2.py", "thing_pb2_grpc.py", "other_pb2.py", "nested"} <= installed
    assert (site / "nested/py.typed").is_file()
    code = (
        "import thing_pb2, thing_pb2_grpc, other_pb2\n"
        "from nested.v1 import deep_pb2\n"
        "t = thing_pb2.Thing(name='n', other=other_pb2.Other(b='b'))\n"
        "assert thing_pb2.Thing.FromString(t.SerializeToString()) == t\n"
        "assert thing_pb2_grpc.ThingsStub and deep_pb2.Deep\n"
        "print(thing_pb2.__file__)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == str(site / "thing_pb2.py")


def test_build_artefacts_of_a_pip_install_are_not_drift(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_tree(root, ROOT_LEVEL)
    assert run_contracts("gen", "--target", "python", cwd=root).code == 0
    # A plain (not editable) install builds inside the source tree.
    _pip_install(root / "generated/python", tmp_path / "site")
    assert (root / "generated/python/build").is_dir()
    (root / "generated/python/dist").mkdir()
    (root / "generated/python/dist/x.whl").write_text("x")
    check = run_contracts("gen", "--check", "--target", "python", cwd=root)
    assert (check.code, check.stdout) == (0, ""), check.stdout
    # And a real regeneration keeps them where they are, unreported.
    (root / "thing.proto").write_text((root / "thing.proto").read_text() + "// changed\n")
    regen = run_contracts("gen", "--target", "python", cwd=root)
    assert regen.code == 0 and "build/" not in regen.stdout, regen.stdout
    assert (root / "generated/python/build").is_dir()


def test_a_proto_package_named_like_build_artefacts_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_tree(root, {"buf.yaml": "version: v2\n", "build/x.proto": 'syntax = "proto3";\n'})
    result = run_contracts("gen", "--target", "python", cwd=root)
    assert result.code == 2, result.stderr
    assert "generated/python/build" in result.stderr and "rename" in result.stderr
    assert not (root / "generated").exists()


@pytest.mark.parametrize("name", ["my file.proto", "café.proto", "class/x.proto", "a.b/x.proto"])
def test_names_python_cannot_import_are_refused(tmp_path: Path, name: str) -> None:
    root = tmp_path / "ws"
    write_tree(
        root,
        {
            "buf.yaml": "version: v2\n",
            name: 'syntax = "proto3";\npackage x;\nmessage M {}\nservice S { rpc Get(M) returns (M); }\n',
        },
    )
    result = run_contracts("gen", cwd=root)
    assert result.code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"contracts: {name}: the python target cannot make a module")
    assert "Traceback" not in result.stderr
    assert not (root / "generated").exists()


def test_typing_extra_pins_the_stub_distributions_the_toolchain_pins() -> None:
    import tomllib

    from codegen.gen import python_target

    dev = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    generated = tomllib.loads((REPO / "generated/python/pyproject.toml").read_text())
    typing = generated["project"]["optional-dependencies"]["typing"]
    assert typing == list(python_target.TYPING_PINS)
    assert {"types-protobuf", "types-grpcio"} == {pin.split("==")[0] for pin in typing}
    for pin in typing:
        assert pin in dev["dev"], f"{pin} differs from the toolchain's dev pin"


def test_a_generated_module_that_does_not_parse_is_never_swapped_in(tmp_path: Path) -> None:
    from codegen.gen import python_names
    from contracts_core.errors import GenerationError

    write_tree(tmp_path, {"ok_pb2.py": "x = 1\n", "a/bad_pb2_grpc.py": "import my file_pb2\n"})
    with pytest.raises(GenerationError, match=r"generated/python/a/bad_pb2_grpc\.py"):
        python_names.check_syntax(tmp_path)
