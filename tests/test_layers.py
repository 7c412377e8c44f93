"""The layers of the code base, enforced: no package imports one above it.

    contracts_cli                 the `contracts` command: parses, calls, renders
      ├─ codegen                  generators (and the no-op stamp)
      └─ compat_checks            gates: lint, breaking, compatibility
           └─ contracts_core      workspace, config, tools, compile step, descriptor model, findings
    runtime/, services/           run time: never the toolchain

Read from the source with `ast`, so an import inside a function counts too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from conftest import REPO

TOOLCHAIN = {"contracts_core", "codegen", "compat_checks", "contracts_cli"}
# What each package may import of ours (besides itself).
ALLOWED = {
    "contracts_core": set(),
    "codegen": {"contracts_core"},
    "compat_checks": {"contracts_core"},
    "contracts_cli": {"contracts_core", "codegen", "compat_checks"},
}
# Third-party packages that belong to the toolchain, never to run-time code.
TOOLCHAIN_ONLY = {"click", "jinja2", "grpc_tools", "yaml", "mypy_protobuf", "jsonschema"}
# Modules a registry service or a runtime may import: the standard library only.
LEAVES = {"contracts_core/findings.py", "contracts_core/render.py"}


def imports_of(path: Path, package: str | None = None) -> set[str]:
    """Every module a file imports, absolute names (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, node.module or ""]).rstrip("."))
            elif node.module:
                found.add(node.module)
    return found


def python_files(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py") if "node_modules" not in p.parts)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_package_imports_upward(package: str) -> None:
    bad = []
    for path in python_files(package):
        for module in imports_of(path):
            top = module.split(".")[0]
            if top in TOOLCHAIN and top != package and top not in ALLOWED[package]:
                bad.append(f"{path.relative_to(REPO)} imports {module}")
    assert not bad, "\n".join(bad)


def test_nothing_imports_the_cli() -> None:
    bad = [
        f"{path.relative_to(REPO)} imports {module}"
        for package in ALLOWED
        if package != "contracts_cli"
        for path in python_files(package)
        for module in imports_of(path)
        if module.split(".")[0] == "contracts_cli"
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_findings_are_a_leaf(leaf: str) -> None:
    stdlib = sys.stdlib_module_names
    for module in imports_of(REPO / leaf):
        top = module.split(".")[0]
        assert top in stdlib or module == "contracts_core.findings", f"{leaf} imports {module}"


def test_run_time_code_never_imports_the_toolchain() -> None:
    bad = []
    for folder in ("runtime", "services"):
        for path in python_files(folder):
            for module in imports_of(path):
                top = module.split(".")[0]
                if top in TOOLCHAIN or top in TOOLCHAIN_ONLY:
                    bad.append(f"{path.relative_to(REPO)} imports {module}")
    assert not bad, "\n".join(bad)


def test_the_layer_test_sees_every_package() -> None:
    """A new top-level toolchain package must be placed in ALLOWED, not slip past."""
    on_disk = {
        p.parent.name
        for p in REPO.glob("*/__init__.py")
        if p.parent.name not in {"tests", "bench", "scripts"}
    }
    assert on_disk == set(ALLOWED), on_disk ^ set(ALLOWED)


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    """The AST reader itself: an import inside a function is found."""
    sample = tmp_path / "probe.py"
    sample.write_text("def f():\n    from compat_checks import lint\n    from . import x\n")
    assert imports_of(sample, "contracts_core") == {"compat_checks", "contracts_core"}


def test_only_the_descriptor_model_reads_source_positions() -> None:
    """One walker: positions and comments come from contracts_core.descriptors, so no
    step keeps its own copy of descriptor.proto's path numbers."""
    bad = [
        str(path.relative_to(REPO))
        for package in ALLOWED
        for path in python_files(package)
        if path != REPO / "contracts_core/descriptors.py"
        and "source_code_info.location" in path.read_text(encoding="utf-8")
    ]
    assert not bad, bad


def test_the_serving_runtime_imports_only_its_pinned_distributions() -> None:
    """runtime/python imports the standard library, itself and what its pyproject pins."""
    import tomllib

    project = tomllib.loads((REPO / "runtime/python/pyproject.toml").read_text(encoding="utf-8"))
    pinned = {d.split("==")[0] for d in project["project"]["dependencies"]}
    imported_as = {
        "grpcio": "grpc",
        "grpcio-health-checking": "grpc_health",
        "grpcio-reflection": "grpc_reflection",
        "protobuf": "google",
        "prometheus-client": "prometheus_client",
    }
    assert pinned == set(imported_as)
    # torch is the `inference` extra, and only the inference package may import it.
    extra = {d.split("==")[0] for d in project["project"]["optional-dependencies"]["inference"]}
    assert extra == {"torch"}
    allowed = set(sys.stdlib_module_names) | set(imported_as.values()) | {"contracts_runtime"}
    bad = [
        f"{path.relative_to(REPO)} imports {module}"
        for path in python_files("runtime/python/contracts_runtime")
        for module in imports_of(path, "contracts_runtime")
        if module.split(".")[0] not in allowed
        and not (module.split(".")[0] == "torch" and path.parent == INFERENCE)
    ]
    assert not bad, "\n".join(bad)


INFERENCE = REPO / "runtime/python/contracts_runtime/inference"
# The modules that import without torch (device and repository import it inside functions):
# the batcher batches opaque items, and a
# service validates requests and reads configs before (or without) loading a model.
TORCH_FREE = {
    "__init__.py",
    "batcher.py",
    "config.py",
    "device.py",
    "errors.py",
    "metrics.py",
    "repository.py",
    "tensors.py",
}


def test_torch_stays_out_of_the_inference_packages_torch_free_modules() -> None:
    """Top-level imports of the torch-free modules (and of the modules they import of
    ours) never reach torch; the others import it, or import it inside functions."""
    bad = []
    for name in sorted(TORCH_FREE):
        tree = ast.parse((INFERENCE / name).read_text(encoding="utf-8"))
        for node in tree.body:
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            for module in modules:
                leaf = module.removeprefix("contracts_runtime.inference.") + ".py"
                if module.split(".")[0] == "torch" or (
                    module.startswith("contracts_runtime.inference.") and leaf not in TORCH_FREE
                ):
                    bad.append(f"{name} imports {module} at import time")
    assert not bad, "\n".join(bad)
