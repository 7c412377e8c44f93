"""Templates that extend others (`extends` in template.toml): each shared file has one
definition, a derived template replaces only what differs (through Jinja blocks), a bad
`extends` is refused naming its template.toml, and the derived gpu-inference template
keeps its own start-up budget and resources while it inherits the grpc template's fixes.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import yaml
from conftest import REPO, run_contracts, write_tree
from scaffold_helpers import FOLDER, NAME, SERVICE, fixture_workspace, scaffold

from codegen.scaffold import catalog, inference_view, view

_EXTENDS = re.compile(r'\A\{%\s*extends\s+"([^"]+)"\s*%\}')
# A derived file that does not {% extends %} its base's file may share at most this
# share of its lines with it; more is a copy that will drift, to be made a block.
MOST_SHARED = 0.5


def _text(owner: str, path: str, override_dir: Path | None) -> str:
    """The file `path` of template `owner` as the loader finds it, the workspace's first."""
    roots = [override_dir / catalog.OVERRIDE_SUBDIR] if override_dir else []
    for root in [*roots, catalog.BUILTIN_DIR]:
        file = root / owner / "files" / path
        if file.is_file():
            return file.read_text(encoding="utf-8")
    raise AssertionError(f"{owner}/files/{path} not found")


def duplication(override_dir: Path | None) -> list[str]:
    """Every file of a derived template that copies its base's file instead of
    extending it: identical, or mostly the same lines without `{% extends %}`, or
    extending some other file than the one it replaces."""
    found: list[str] = []
    templates = catalog.discover(override_dir)
    for info in templates.values():
        if not info.extends:
            continue
        base = templates[info.extends]
        inherited = catalog.owners(base, override_dir)
        for path, owner in sorted(catalog.owners(info, override_dir).items()):
            if owner != info.name or path not in inherited:
                continue
            mine = _text(owner, path, override_dir)
            theirs = _text(inherited[path], path, override_dir)
            where = f"{info.name}/files/{path}"
            extends = _EXTENDS.match(mine)
            if mine == theirs:
                found.append(f"{where}: a copy of {inherited[path]}'s; delete it")
            elif extends:
                wanted = f"{inherited[path]}/files/{path}"
                if extends.group(1) != wanted:
                    found.append(f"{where}: extends {extends.group(1)}, not {wanted}")
            else:
                ours = [line for line in mine.splitlines() if line.strip()]
                shared = difflib.SequenceMatcher(
                    None, ours, [line for line in theirs.splitlines() if line.strip()]
                )
                same = sum(block.size for block in shared.get_matching_blocks())
                if ours and same / len(ours) > MOST_SHARED:
                    found.append(
                        f"{where}: {same} of its {len(ours)} lines are {inherited[path]}'s; "
                        "extend that file and fill its blocks instead"
                    )
    return found


def test_no_built_in_template_copies_a_file_of_its_base() -> None:
    assert duplication(None) == []
    # What the structure rests on: gpu-inference extends grpc and has no copies of its
    # shared files.
    info = catalog.discover(None)["gpu-inference"]
    assert info.chain == ("gpu-inference", "grpc")
    owners = catalog.owners(info, None)
    for path in ("k8s/pdb.yaml.j2", "k8s/service.yaml.j2", "__package__/py.typed.j2"):
        assert owners[path] == "grpc", path
    for path in ("Dockerfile.j2", "README.md.j2", "k8s/deployment.yaml.j2", "pyproject.toml.j2"):
        assert owners[path] == "gpu-inference", path


def test_a_copied_or_mostly_copied_file_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a workspace template that copies grpc's files."""
    grpc = catalog.BUILTIN_DIR / "grpc/files"
    dockerfile = (grpc / "Dockerfile.j2").read_text(encoding="utf-8")
    write_tree(
        tmp_path,
        {
            "scaffold/copycat/template.toml": 'description = "c"\nversion = "1"\nextends = "grpc"\n',
            "scaffold/copycat/files/k8s/pdb.yaml.j2": (grpc / "k8s/pdb.yaml.j2").read_text(),
            "scaffold/copycat/files/Dockerfile.j2": dockerfile.replace("10001", "10002"),
            "scaffold/copycat/files/README.md.j2": '{% extends "grpc/files/Dockerfile.j2" %}\n',
        },
    )
    dockerfile_found, readme_found, pdb_found = duplication(tmp_path)
    counted = re.fullmatch(
        r"copycat/files/Dockerfile.j2: (\d+) of its (\d+) lines are grpc's; "
        "extend that file and fill its blocks instead",
        dockerfile_found,
    )
    # All its lines but the two naming the user id are grpc's.
    assert counted and int(counted[2]) - int(counted[1]) == 2, dockerfile_found
    assert readme_found == (
        "copycat/files/README.md.j2: extends grpc/files/Dockerfile.j2, not grpc/files/README.md.j2"
    )
    assert pdb_found == "copycat/files/k8s/pdb.yaml.j2: a copy of grpc's; delete it"


def _workspace_templates(ws: Path, files: dict[str, str]) -> None:
    with (ws / "pyproject.toml").open("a") as f:
        f.write('templates = "templates"\n')
    write_tree(ws, {f"templates/scaffold/{k}": v for k, v in files.items()})


def test_an_unknown_base_is_refused_naming_the_manifest(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    _workspace_templates(
        ws, {"worker/template.toml": 'description = "w"\nversion = "1"\nextends = "grcp"\n'}
    )
    result = run_contracts("new", "service", "--list", cwd=ws)
    assert result.code == 2, result.stdout + result.stderr
    manifest = ws / "templates/scaffold/worker/template.toml"
    assert (
        f"{manifest}: extends 'grcp', which is not a template; the templates are "
        "gpu-inference, grpc, worker" in result.stderr
    )


def test_a_cycle_of_bases_is_refused_naming_the_manifest(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    _workspace_templates(
        ws,
        {
            "a/template.toml": 'description = "a"\nversion = "1"\nextends = "b"\n',
            "b/template.toml": 'description = "b"\nversion = "1"\nextends = "a"\n',
            "c/template.toml": 'description = "c"\nversion = "1"\nextends = "c"\n',
        },
    )
    result = scaffold(ws)
    assert result.code == 2, result.stdout + result.stderr
    manifest = ws / "templates/scaffold/b/template.toml"
    assert f"{manifest}: extends 'a', a cycle: a -> b -> a" in result.stderr
    assert not (ws / "services").exists()
    (ws / "templates/scaffold/a").joinpath("template.toml").unlink()
    (ws / "templates/scaffold/b").joinpath("template.toml").unlink()
    result = scaffold(ws)
    assert result.code == 2
    manifest = ws / "templates/scaffold/c/template.toml"
    assert f"{manifest}: extends 'c', a cycle: c -> c" in result.stderr


def test_a_workspace_template_extends_a_built_in_one(tmp_path: Path) -> None:
    """A derived template gets the base's files, replaces one with blocks filled, and a
    workspace override of a base file reaches it too."""
    ws = fixture_workspace(tmp_path / "ws")
    _workspace_templates(
        ws,
        {
            "worker/template.toml": 'description = "w"\nversion = "1"\nextends = "grpc"\n',
            "worker/files/k8s/deployment.yaml.j2": '{% extends "grpc/files/k8s/deployment.yaml.j2" %}\n'
            "{% block resources %}\n            requests:\n              cpu: 100m\n"
            "{% endblock %}\n",
            "grpc/files/k8s/pdb.yaml.j2": "# ours\n",
        },
    )
    result = run_contracts(
        "new", "service", NAME, "--service", SERVICE, "--template", "worker", cwd=ws
    )
    assert result.code == 0, result.stderr
    folder = ws / FOLDER
    assert (folder / NAME / "server.py").is_file()
    assert (folder / "k8s/pdb.yaml").read_text() == "# ours\n"
    deployment = yaml.safe_load((folder / "k8s/deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == {"requests": {"cpu": "100m"}}
    assert (
        container["startupProbe"]["failureThreshold"]
        == view.STARTUP_BUDGET_S // view.STARTUP_PERIOD_S
    )


def test_gpu_inference_has_the_shared_fixes_and_its_own_budget() -> None:
    """The flagship is gpu-inference's render (tests/test_inference_service.py holds
    it to a fresh one): the grpc template's startup probe and compat-mode install
    reached it through the base, with the inference view's budget and its GPU."""
    flagship = REPO / "services/inference"
    deployment = yaml.safe_load((flagship / "k8s/deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    startup = container["startupProbe"]
    assert startup["grpc"] == {"port": view.GRPC_PORT}
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert budget == inference_view.STARTUP_BUDGET_S == 300
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"name": "INFERENCE_DEVICE", "value": "auto"} in container["env"]
    recorded = (flagship / ".contracts-scaffold.json").read_text()
    assert "pip install --config-settings editable_mode=compat" in recorded
    assert "# Last, after every RUN: the service never runs as root" in recorded
