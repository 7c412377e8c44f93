"""Bad input to `contracts new service`, each named: one clear message, exit 2, and
nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_contracts
from scaffold_helpers import FOLDER, NAME, SERVICE, fixture_workspace, scaffold

from codegen.scaffold.answers import FILE_NAME


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return fixture_workspace(tmp_path / "ws")


def new(ws: Path, *args: str) -> tuple[int, str]:
    result = run_contracts("new", "service", *args, cwd=ws)
    return result.code, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("class", "NAME 'class': the Python package 'class' would be a Python keyword"),
        ("a/b", "NAME 'a/b': a service name is one folder name, without path separators or '..'"),
        ("..", "NAME '..': a service name is one folder name, without path separators or '..'"),
        ("x..y", "NAME 'x..y': a service name is one folder name"),
        ("Orders", "NAME 'Orders': not a DNS-1123 label"),
        ("orders_v1", "NAME 'orders_v1': not a DNS-1123 label"),
        ("-orders", "NAME '-orders': not a DNS-1123 label"),
        ("a" * 64, "not a DNS-1123 label"),
        ("9lives", "NAME '9lives': the Python package would be '9lives', which is not a Python"),
        ("json", "NAME 'json': the Python package 'json' would hide the module of that name"),
        ("acme", "NAME 'acme': the Python package 'acme' would hide the generated package"),
        # Valid DNS labels whose packages shadow what the scaffold's own tests import.
        ("grpc-health", "NAME 'grpc-health': the Python package 'grpc_health' would hide"),
        ("grpc-reflection", "the Python package 'grpc_reflection' would hide the module"),
        ("pytest", "NAME 'pytest': the Python package 'pytest' would hide the module"),
    ],
)
def test_bad_names(ws: Path, name: str, message: str) -> None:
    code, out = new(ws, "--service", SERVICE, "--", name)
    assert code == 2, out
    assert f"contracts: {message}" in out if message.startswith("NAME") else message in out, out
    assert not (ws / "services").exists()


def test_unknown_service_lists_the_services(ws: Path) -> None:
    code, out = new(ws, NAME, "--service", "acme.echo.v1.EchoServce")
    assert code == 2
    assert (
        "contracts: --service 'acme.echo.v1.EchoServce': no such service in the contracts; "
        "the services are:\n  acme.echo.v1.EchoService\n" in out
    )
    assert not (ws / "services").exists()


def test_a_message_is_not_a_service(ws: Path) -> None:
    code, out = new(ws, NAME, "--service", "acme.echo.v1.EchoRequest")
    assert code == 2 and "no such service in the contracts" in out


def test_unknown_template_lists_the_templates(ws: Path) -> None:
    code, out = new(ws, NAME, "--service", SERVICE, "--template", "grcp")
    assert code == 2
    assert (
        "contracts: --template 'grcp': no such template; the templates are:\n  gpu-inference: "
        in out
    )
    assert "\n  grpc: grpc.aio service" in out
    assert not (ws / "services").exists()


def test_missing_service_and_name(ws: Path) -> None:
    code, out = new(ws, NAME)
    assert code == 2 and "--service is required" in out
    code, out = new(ws)
    assert code == 2 and "NAME is required (or --list)" in out


def test_a_folder_not_made_by_the_scaffolder_is_refused(ws: Path) -> None:
    (ws / FOLDER).mkdir(parents=True)
    (ws / FOLDER / "main.py").write_text("print('mine')\n")
    code, out = new(ws, NAME, "--service", SERVICE)
    assert code == 2
    assert f"{FOLDER}: exists and was not made by `contracts new service` (no {FILE_NAME})" in out
    assert sorted(p.name for p in (ws / FOLDER).iterdir()) == ["main.py"]


def test_bad_dir(ws: Path) -> None:
    for folder in ("../elsewhere", "/abs"):
        code, out = new(ws, NAME, "--service", SERVICE, "--dir", folder)
        assert code == 2 and f"--dir {folder!r}: a folder inside the workspace" in out


def test_update_without_an_answers_file(ws: Path) -> None:
    code, out = new(ws, NAME, "--update")
    assert code == 2
    assert f"--update needs the answers file {FILE_NAME}" in out
    assert "there is no recorded render to merge against" in out


def test_update_with_a_hand_edited_answers_file(ws: Path) -> None:
    assert scaffold(ws).code == 0
    path = ws / FOLDER / FILE_NAME
    data = json.loads(path.read_text())
    data["files"]["README.md"] = "# edited base\n"
    path.write_text(json.dumps(data))
    server = (ws / FOLDER / NAME / "server.py").read_text()
    (ws / "contracts/acme/echo/v1/echo_service.proto").write_text(
        (ws / "contracts/acme/echo/v1/echo_service.proto")
        .read_text()
        .replace("rpc Chat", "// More.\n  rpc Chat")
    )
    code, out = new(ws, NAME, "--update")
    assert code == 2
    assert "edited by hand (its checksum does not match), so the recorded render cannot" in out
    assert (ws / FOLDER / NAME / "server.py").read_text() == server  # nothing written


def test_update_with_a_damaged_answers_file(ws: Path) -> None:
    assert scaffold(ws).code == 0
    (ws / FOLDER / FILE_NAME).write_text("{not json")
    code, out = new(ws, NAME, "--update")
    assert code == 2 and f"{FILE_NAME}: not a readable answers file" in out


def test_a_service_keeps_its_contract_and_template(ws: Path) -> None:
    assert scaffold(ws).code == 0
    code, out = new(ws, NAME, "--service", "acme.echo.v1.Other", "--update")
    assert code == 2 and f"{FOLDER} was scaffolded for {SERVICE}, not acme.echo.v1.Other" in out


def test_a_broken_template_manifest_is_named(ws: Path) -> None:
    with (ws / "pyproject.toml").open("a") as f:
        f.write('templates = "templates"\n')
    manifest = ws / "templates/scaffold/odd/template.toml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('description = "x"\nversion = "1"\ncolour = "red"\n')
    code, out = new(ws, "--list")
    assert code == 2
    assert (
        f"{manifest}: unknown key(s) colour; a template manifest has description, extends, "
        "version, view" in out
    )


def test_a_dir_that_is_a_file(ws: Path) -> None:
    (ws / "services").write_text("a file where the folder goes\n")
    code, out = new(ws, NAME, "--service", SERVICE)
    assert code == 2, out
    assert f"contracts: --dir 'services': {ws / 'services'} exists and is not a folder" in out


def test_a_broken_template_is_named_by_file_and_line(ws: Path) -> None:
    with (ws / "pyproject.toml").open("a") as f:
        f.write('templates = "templates"\n')
    override = ws / "templates/scaffold/grpc/files/README.md.j2"
    override.parent.mkdir(parents=True)
    override.write_text("# {{ view.name }}\n\n{{ view.no_such_field }}\n")
    code, out = new(ws, NAME, "--service", SERVICE)
    assert code == 2, out
    assert f"contracts: {override}:3: template error:" in out
    assert "no_such_field" in out
    assert not (ws / "services").exists()
