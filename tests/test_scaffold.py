"""`contracts new service`: the rendered scaffold of a fixture contract with all four
RPC kinds against golden files, the scaffold's own checks, template discovery and
overrides, and what a re-run writes, skips and why.

`UPDATE_GOLDEN=1 pytest tests/test_scaffold.py` rewrites fixtures/scaffold/expected/
(every file with `.golden` appended, so no tool mistakes it for code); review the diff.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tomllib
from pathlib import Path

import yaml
from conftest import REPO, copy_repo_workspace, run_bounded, run_contracts, write_tree
from scaffold_helpers import (
    CHECK_TIMEOUT_S,
    FIXTURE,
    FOLDER,
    NAME,
    SERVICE,
    edit,
    fixture_workspace,
    generate_python,
    scaffold,
    scaffold_checks,
)

from codegen.gen import python_target
from codegen.scaffold import view
from codegen.scaffold.answers import FILE_NAME

EXPECTED = FIXTURE / "expected"
GOLDEN = ".golden"


def rendered_files(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != FILE_NAME and "__pycache__" not in p.parts
    }


def test_golden_scaffold(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    result = scaffold(ws)
    assert result.code == 0, result.stderr
    files = rendered_files(ws / FOLDER)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(EXPECTED, ignore_errors=True)
        for rel, text in files.items():
            (EXPECTED / f"{rel}{GOLDEN}").parent.mkdir(parents=True, exist_ok=True)
            (EXPECTED / f"{rel}{GOLDEN}").write_text(text, encoding="utf-8")
    expected = {
        p.relative_to(EXPECTED).as_posix().removesuffix(GOLDEN): p.read_text(encoding="utf-8")
        for p in sorted(EXPECTED.rglob(f"*{GOLDEN}"))
    }
    assert sorted(files) == sorted(expected)
    for rel, text in files.items():
        assert text == expected[rel], f"{rel} differs; rerun with UPDATE_GOLDEN=1 and review"
    # Every file is reported, each once, with why.
    wrote = re.findall(r"^wrote: (\S+) \(new file\)$", result.stdout, re.M)
    assert sorted(wrote) == sorted(f"{FOLDER}/{rel}" for rel in files)
    assert f"recorded: {FOLDER}/{FILE_NAME} (what was rendered;" in result.stdout


def test_the_scaffold_serves_and_is_typed_and_clean(tmp_path: Path) -> None:
    """Its own tests (health, reflection, every RPC UNIMPLEMENTED over a real channel)
    pass at once; mypy --strict and ruff pass on it."""
    ws = fixture_workspace(tmp_path / "ws")
    generate_python(ws)
    assert scaffold(ws).code == 0
    scaffold_checks(ws)


def test_every_service_of_this_repo_scaffolds_clean(tmp_path: Path) -> None:
    """The repository's own contracts, with their committed stubs: each service's
    scaffold passes its tests, mypy --strict and ruff."""
    ws = copy_repo_workspace(tmp_path / "ws")
    shutil.copytree(REPO / "generated/python", ws / "generated/python")
    listed = run_contracts("new", "service", "x", "--service", "?", cwd=ws)
    services = re.findall(r"^  (\S+)$", listed.stderr, re.M)
    assert len(services) >= 3, listed.stderr
    for service in services:
        name = service.split(".")[-1].lower().removesuffix("service")
        result = run_contracts("new", "service", name, "--service", service, cwd=ws)
        assert result.code == 0, result.stderr
        scaffold_checks(ws, f"services/{name}")


def test_readme_installs_so_that_mypy_sees_the_stubs(tmp_path: Path) -> None:
    """setuptools' default editable install is an import hook mypy cannot follow: the
    README's install command must ask for compat mode, and where the workspace has no
    runtime source, say where the runtime comes from."""
    ws = fixture_workspace(tmp_path / "ws")
    assert scaffold(ws).code == 0
    readme = (ws / FOLDER / "README.md").read_text()
    command = re.search(r"^pip install .*?(?<!\\)$", readme, re.M | re.S)
    assert command is not None, readme
    words = command.group(0).replace("\\\n", " ").split()
    assert words[2:4] == ["--config-settings", "editable_mode=compat"], words
    assert words[4:] == ["-e", "generated/python", "-e", f'"{FOLDER}[dev]"'], words
    assert "This workspace does not hold `runtime/python`" in readme


def test_a_service_named_like_a_name_of_server_py_scaffolds_clean(tmp_path: Path) -> None:
    """Services called Service or Context would rebind the runtime's Service or the
    handlers' Context type in server.py; their handler class takes another name. An RPC
    called Context would shadow the Context annotation of the methods after it."""
    ws = fixture_workspace(tmp_path / "ws")
    methods = "".join(
        f"  // {rpc} answers.\n  rpc {rpc}(google.protobuf.Empty) returns (google.protobuf.Empty);\n"
        for rpc in ("Context", "Ping")
    )
    write_tree(
        ws,
        {
            "contracts/acme/echo/v1/odd.proto": 'syntax = "proto3";\n\npackage acme.echo.v1;\n\n'
            'import "google/protobuf/empty.proto";\n\n'
            f"// Service is named Service.\nservice Service {{\n{methods}}}\n\n"
            f"// Context is named Context.\nservice Context {{\n{methods}}}\n"
        },
    )
    generate_python(ws)
    for short in ("Service", "Context"):
        name = f"{short.lower()}-svc"
        result = run_contracts("new", "service", name, "--service", f"acme.echo.v1.{short}", cwd=ws)
        assert result.code == 0, result.stderr
        server = (ws / f"services/{name}/{name.replace('-', '_')}/server.py").read_text()
        assert f"class {short}Handlers(odd_pb2_grpc.{short}Servicer):" in server
        assert "\nHandlerContext = ServicerContext[Any, Any]\n" in server
        scaffold_checks(ws, f"services/{name}")


def test_aliased_modules_and_response_only_modules_scaffold_clean(tmp_path: Path) -> None:
    """Two messages.proto files make aliased imports beside a plain one of the same
    package (ruff orders them by the name imported); a module only a response comes
    from (Struct here) is imported by server.py but not by the tests, which build
    requests only."""
    ws = fixture_workspace(tmp_path / "ws")
    header = 'syntax = "proto3";\n\npackage acme.other.v1;\n\n'
    write_tree(
        ws,
        {
            "contracts/acme/other/v1/messages.proto": header
            + "// Wrapper wraps.\nmessage Wrapper {\n  // Inner is nested.\n"
            "  message Inner {\n    string def = 1;\n  }\n  Inner inner = 1;\n}\n",
            "contracts/acme/other/v1/alpha.proto": header
            + "// Alpha is first.\nmessage Alpha {\n  string from = 1;\n}\n",
            "contracts/acme/other/v1/odd_service.proto": header
            + 'import "acme/echo/v1/messages.proto";\nimport "acme/other/v1/alpha.proto";\n'
            'import "acme/other/v1/messages.proto";\nimport "google/protobuf/struct.proto";\n\n'
            "// OddService mixes modules.\nservice OddService {\n"
            "  // Take streams structs.\n"
            "  rpc Take(Wrapper.Inner) returns (stream google.protobuf.Struct);\n"
            "  // First answers.\n  rpc First(Alpha) returns (acme.echo.v1.EchoResponse);\n"
            "  // Echo echoes.\n"
            "  rpc Echo(acme.echo.v1.EchoRequest) returns (acme.echo.v1.EchoResponse);\n}\n",
        },
    )
    generate_python(ws)
    name = "odd"
    result = run_contracts("new", "service", name, "--service", "acme.other.v1.OddService", cwd=ws)
    assert result.code == 0, result.stderr
    server = (ws / f"services/{name}/{name}/server.py").read_text()
    assert (
        "from acme.other.v1 import alpha_pb2, odd_service_pb2, odd_service_pb2_grpc\n"
        "from acme.other.v1 import messages_pb2 as acme_other_v1_messages_pb2\n"
    ) in server
    assert "struct_pb2" in server
    assert "struct_pb2" not in (ws / f"services/{name}/tests/test_service.py").read_text()
    scaffold_checks(ws, f"services/{name}")


def test_a_proto_file_outside_any_package_type_checks_installed(tmp_path: Path) -> None:
    """A file without a package becomes a top-level module, which py.typed cannot mark:
    installed (here: on sys.path, as an editable install puts it), mypy skips it unless
    the scaffold's pyproject names it."""
    ws = fixture_workspace(tmp_path / "ws")
    write_tree(
        ws,
        {
            "contracts/legacy.proto": 'syntax = "proto3";\n\n'
            'import "acme/echo/v1/messages.proto";\n\n'
            "// Legacy has no package.\nservice Legacy {\n  // Get gets.\n"
            "  rpc Get(Thing) returns (acme.echo.v1.EchoResponse);\n}\n\n"
            "// Thing is a thing.\nmessage Thing {\n  string id = 1;\n}\n",
        },
    )
    generate_python(ws)
    assert run_contracts("new", "service", "legacy", "--service", "Legacy", cwd=ws).code == 0
    folder = ws / "services/legacy"
    assert 'module = ["legacy_pb2", "legacy_pb2_grpc"]' in (folder / "pyproject.toml").read_text()
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    env["PYTHONPATH"] = str(ws / "generated/python")
    mypy = Path(sys.executable).parent / "mypy"
    proc = run_bounded(
        [str(mypy), "--cache-dir", os.devnull], cwd=folder, timeout=CHECK_TIMEOUT_S, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_handlers_are_typed_for_each_rpc_kind(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    assert scaffold(ws).code == 0
    server = (ws / FOLDER / NAME / "server.py").read_text()
    shapes = {
        "Echo": ("request: messages_pb2.EchoRequest", "-> messages_pb2.EchoResponse:"),
        "Expand": (
            "request: messages_pb2.ExpandRequest",
            "-> AsyncIterator[messages_pb2.ExpandResponse]:",
        ),
        "Collect": (
            "request_iterator: AsyncIterator[messages_pb2.CollectRequest]",
            "-> messages_pb2.CollectResponse:",
        ),
        "Chat": (
            "request_iterator: AsyncIterator[messages_pb2.ChatRequest]",
            "-> AsyncIterator[messages_pb2.ChatResponse]:",
        ),
    }
    for method, (param, returns) in shapes.items():
        block = server.split(f"async def {method}(", 1)[1].split("async def", 1)[0]
        assert param in block and returns in block, block
        assert f'await unimplemented(context, "{method}")' in block


def test_answers_file_records_the_render(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    assert scaffold(ws).code == 0
    data = json.loads((ws / FOLDER / FILE_NAME).read_text())
    assert data["answers"] == {"name": NAME, "service": SERVICE, "template": "grpc"}
    assert data["template_version"] == "1"
    assert data["methods"] == ["Echo", "Expand", "Collect", "Chat"]
    assert re.fullmatch(r"[0-9a-f]{64}", data["contract_digest"])
    assert data["toolchain"] == "0.1.0"
    assert data["files"] == rendered_files(ws / FOLDER)


def test_list_prints_the_templates(tmp_path: Path) -> None:
    result = run_contracts("new", "service", "--list", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert re.search(
        r"^grpc +grpc\.aio service on contracts-runtime: .+ \(version 1\)$", result.stdout, re.M
    )
    assert re.search(r"^gpu-inference +inference server of .+ \(version 1\)$", result.stdout, re.M)


def test_workspace_templates_override_and_add(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    with (ws / "pyproject.toml").open("a") as f:
        f.write('templates = "templates"\n')
    write_tree(
        ws,
        {
            "templates/scaffold/grpc/files/README.md.j2": "# {{ view.name }} (ours)\n",
            "templates/scaffold/tiny/template.toml": 'description = "just a README"\nversion = "7"\n',
            "templates/scaffold/tiny/files/README.md.j2": "{{ view.service }}\n",
        },
    )
    listed = run_contracts("new", "service", "--list", cwd=ws)
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        "gpu-inference",
        "grpc",
        "tiny",
    ]
    assert scaffold(ws).code == 0
    assert (ws / FOLDER / "README.md").read_text() == "# echo (ours)\n"
    assert (ws / FOLDER / NAME / "server.py").is_file()  # the rest is built in
    tiny = run_contracts(
        "new", "service", "tiny-one", "--service", SERVICE, "--template", "tiny", cwd=ws
    )
    assert tiny.code == 0, tiny.stderr
    assert rendered_files(ws / "services/tiny-one") == {"README.md": f"{SERVICE}\n"}


def test_rerun_writes_missing_skips_edited_and_force_overwrites(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    assert scaffold(ws).code == 0
    folder = ws / FOLDER
    edit(folder / "README.md", "## Run", "## Run it")
    (folder / "Dockerfile").unlink()
    rerun = scaffold(ws)
    assert rerun.code == 0, rerun.stderr
    assert f"wrote: {FOLDER}/Dockerfile (new file)" in rerun.stdout
    assert (
        f"skipped: {FOLDER}/README.md (changed since it was rendered; --update merges the "
        "new render into it, --force overwrites it)" in rerun.stdout
    )
    assert f"unchanged: {FOLDER}/{NAME}/server.py (already as rendered)" in rerun.stdout
    assert "## Run it" in (folder / "README.md").read_text()
    forced = scaffold(ws, "--force")
    assert f"overwrote: {FOLDER}/README.md (--force)" in forced.stdout
    assert "## Run it" not in (folder / "README.md").read_text()


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    result = scaffold(ws, "--dry-run")
    assert result.code == 0, result.stderr
    assert f"dry run, not written: wrote: {FOLDER}/{NAME}/server.py (new file)" in result.stdout
    assert not (ws / "services").exists()


def test_pins_agree_with_the_runtime_and_the_toolchain() -> None:
    runtime = tomllib.loads((REPO / "runtime/python/pyproject.toml").read_text())["project"]
    assert f"{runtime['name']}=={runtime['version']}" == view.RUNTIME_REQUIREMENT
    dev = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for pin in (*view.DEV_PINS, *python_target.TYPING_PINS):
        assert pin in dev["dev"]


def test_manifests_probe_drain_and_limit(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    assert scaffold(ws).code == 0
    docs = [
        doc
        for path in sorted((ws / FOLDER / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
    ]
    by_kind = {doc["kind"]: doc for doc in docs}
    assert sorted(by_kind) == ["Deployment", "PodDisruptionBudget", "Service"]
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    grace = float(next(e["value"] for e in container["env"] if e["name"] == "SERVER_GRACE_PERIOD"))
    assert pod["terminationGracePeriodSeconds"] > grace
    assert container["readinessProbe"]["grpc"] == {"port": 50051, "service": SERVICE}
    # Health is NOT_SERVING until warm-up ends: liveness waits for the startup probe.
    startup = container["startupProbe"]
    assert startup["grpc"] == {"port": 50051}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    liveness = container["livenessProbe"]
    assert liveness["grpc"] == {"port": 50051}
    # NOT_SERVING through the whole drain must not get a draining pod killed.
    assert (
        liveness["periodSeconds"] * liveness["failureThreshold"]
        > (pod["terminationGracePeriodSeconds"])
    )
    assert set(container["resources"]) == {"requests", "limits"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    selector = {"app.kubernetes.io/name": NAME}
    assert by_kind["Service"]["spec"]["selector"] == selector
    assert by_kind["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    dockerfile = (ws / FOLDER / "Dockerfile").read_text()
    assert "\nUSER 10001\n" in dockerfile
    assert f'ENTRYPOINT ["python", "-m", "{NAME}"]' in dockerfile
