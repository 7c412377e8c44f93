"""The names a service gets from the one the user typed: its folder and Kubernetes name
(a DNS-1123 label) and its Python package (an identifier, never a keyword)."""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass

from contracts_core.errors import UsageError

# RFC 1123 label, as Kubernetes checks object names such as a Service's.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_LABEL_MAX = 63
# Top-level packages every scaffolded service or its tests import (the service's folder
# is first on sys.path, so a package of the same name would shadow them).
_TAKEN = frozenset(
    {
        "grpc",
        "grpc_health",
        "grpc_reflection",
        "google",
        "contracts_runtime",
        "prometheus_client",
        "pytest",
        "tests",
    }
)


@dataclass(frozen=True)
class ServiceNames:
    name: str  # folder, Kubernetes objects, container image
    package: str  # the Python package: `python -m <package>`


def service_names(name: str) -> ServiceNames:
    """Check NAME and derive the package (dashes become underscores)."""
    if not name:
        raise UsageError("NAME: a service name is required, such as orders or task-runner")
    if "/" in name or "\\" in name or ".." in name or name.startswith("."):
        raise UsageError(
            f"NAME {name!r}: a service name is one folder name, without path separators "
            "or '..'; use --dir for where services live"
        )
    if len(name) > _DNS_LABEL_MAX or not _DNS_LABEL.fullmatch(name):
        raise UsageError(
            f"NAME {name!r}: not a DNS-1123 label, which Kubernetes needs for the names "
            f"of the Deployment and Service: lowercase letters, digits and '-', starting "
            f"and ending with a letter or digit, at most {_DNS_LABEL_MAX} characters"
        )
    package = name.replace("-", "_")
    if not package.isidentifier() or package[0].isdigit():
        raise UsageError(
            f"NAME {name!r}: the Python package would be {package!r}, which is not a "
            "Python identifier; start the name with a letter"
        )
    if keyword.iskeyword(package):
        raise UsageError(
            f"NAME {name!r}: the Python package {package!r} would be a Python keyword; "
            "choose another name"
        )
    if package in sys.stdlib_module_names or package in _TAKEN:
        raise UsageError(
            f"NAME {name!r}: the Python package {package!r} would hide the module of that "
            "name that the service imports; choose another name"
        )
    return ServiceNames(name=name, package=package)


def check_dir(folder: str) -> None:
    """--dir: a relative folder inside the workspace."""
    parts = folder.replace("\\", "/").split("/")
    if folder.startswith("/") or ".." in parts or not folder.strip():
        raise UsageError(
            f"--dir {folder!r}: a folder inside the workspace, such as services, without '..'"
        )
