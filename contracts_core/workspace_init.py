"""`contracts init`: make an existing proto tree a workspace (buf.yaml, [tool.contracts]).

It lives in the core, beside the readers of those two files (`bufconfig.py`,
`settings.py`), because it writes the configuration every command reads; it
needs no generator and no gate.

The module roots are found the way a compiler would have to find them: a
directory R is a root when the files' imports resolve from it (`import
"acme/common/v1/place.proto"` names R/acme/common/v1/place.proto). Files no
import reaches are placed by their package (`package acme.billing.v1` in
`x/acme/billing/v1/` puts the root at `x`), else under the root above them,
else at the workspace root. This reads only `import` and `package` lines; buf
still compiles the tree, and `contracts lint` right after init reports anything
the guess got wrong.
"""

from __future__ import annotations

import os
import posixpath
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from contracts_core import bufconfig, settings, sources
from contracts_core.errors import ConfigError, UsageError

# Folders never searched for the tree's own protos (tools' and caches' copies).
_SKIPPED_DIRS = ("node_modules",)
_IMPORT = re.compile(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.MULTILINE)
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)\s*;", re.MULTILINE)
_GO_PACKAGE = re.compile(r'^\s*option\s+go_package\s*=\s*"([^"]*)"\s*;', re.MULTILINE)
# buf provides these itself; they resolve without a file in the tree.
_WELL_KNOWN = "google/protobuf/"


@dataclass(frozen=True)
class _Proto:
    path: str  # relative to the workspace root
    imports: tuple[str, ...]
    package: str
    go_package: str


@dataclass
class InitResult:
    buf_yaml: Path
    pyproject: Path
    modules: list[str]
    # created | appended | kept (it already had [tool.contracts])
    pyproject_action: str
    go_module: str | None
    go_package_prefix: str | None
    # Imports that resolve nowhere in the tree (a dependency buf.yaml must list).
    unresolved: list[str] = field(default_factory=list)


def init_workspace(
    root: Path,
    go_module: str | None = None,
    modules: Iterable[str] = (),
    force: bool = False,
) -> InitResult:
    """Write buf.yaml and [tool.contracts] for the proto tree at root; nothing on error."""
    if not root.is_dir():
        raise UsageError(f"--root {root}: not a directory")
    root = root.resolve()
    existing = [root / n for n in bufconfig.CONFIG_NAMES if (root / n).is_file()]
    if existing and not force:
        raise UsageError(
            f"{existing[0]} already exists; `contracts init` does not overwrite it "
            "(pass --force to replace it)"
        )
    protos, skipped = _scan(root)
    if not protos:
        raise UsageError(f"{root}: no .proto files found to make a workspace of")
    roots = _explicit_roots(root, modules) if modules else _detect_roots(protos)
    unresolved = sorted({i for p in protos for i in p.imports if not _resolves(i, roots, protos)})
    pyproject = root / "pyproject.toml"
    current = _read_tool_contracts(pyproject)
    new, action, prefix = "", "kept", None
    if current is None:
        go_module = go_module or _infer_go_module(protos, roots)
        if go_module is None:
            raise UsageError(
                "cannot tell the Go module generated code should live in (no go_package "
                "option says); pass --go-module, e.g. --go-module example.com/team/contracts/gen/go"
            )
        if not settings.is_go_module_path(go_module):
            raise UsageError(
                f"--go-module {go_module!r} is not a valid Go module path "
                "(lowercase host, then /-separated path elements)"
            )
        # Files without go_package get one from the prefix, so gen works without edits.
        prefix = go_module if any(not p.go_package for p in protos) else None
        old = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
        action = "appended" if old else "created"
        if old and not old.endswith("\n"):
            old += "\n"
        new = old + ("\n" if old else "") + _tool_contracts(go_module, prefix)
        tomllib.loads(new)  # appending a table to valid TOML keeps it valid; make sure
    else:
        kept = current.get("go_module")
        go_module = kept if isinstance(kept, str) else None
    buf_text = _buf_yaml(roots, protos, skipped)
    # Everything is decided and checked: now write.
    for stale in existing:
        if stale.name != "buf.yaml":
            stale.unlink()
    sources.write_atomically(root / "buf.yaml", buf_text)
    if new:
        sources.write_atomically(pyproject, new)
    return InitResult(
        buf_yaml=root / "buf.yaml",
        pyproject=pyproject,
        modules=roots,
        pyproject_action=action,
        go_module=go_module,
        go_package_prefix=prefix,
        unresolved=unresolved,
    )


def _scan(root: Path) -> tuple[list[_Proto], list[str]]:
    """The tree's .proto files, and the skipped folders that also hold some."""
    protos: list[_Proto] = []
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        for name in sorted(dirnames):
            if name.startswith(".") or name in _SKIPPED_DIRS:
                dirnames.remove(name)
                path = Path(dirpath) / name
                if any(path.rglob("*.proto")):
                    skipped.append(posixpath.normpath(posixpath.join(rel_dir, name)))
        dirnames.sort()
        for name in sorted(filenames):
            if not name.endswith(".proto"):
                continue
            rel = posixpath.normpath(posixpath.join(rel_dir, name))
            text = (Path(dirpath) / name).read_text(encoding="utf-8", errors="replace")
            package = _PACKAGE.search(text)
            go_package = _GO_PACKAGE.search(text)
            protos.append(
                _Proto(
                    rel,
                    tuple(_IMPORT.findall(text)),
                    package.group(1) if package else "",
                    go_package.group(1) if go_package else "",
                )
            )
    return protos, skipped


def _under(path: str, root: str) -> bool:
    return root == "." or sources.is_under(path, root)


def _join(root: str, name: str) -> str:
    return name if root == "." else f"{root}/{name}"


def _detect_roots(protos: list[_Proto]) -> list[str]:
    paths = {p.path for p in protos}
    roots: set[str] = set()
    # Imports first: each names the one directory it resolves from.
    for proto in protos:
        for name in proto.imports:
            candidates = [
                path[: -len(name)].rstrip("/") or "."
                for path in paths
                if path == name or path.endswith("/" + name)
            ]
            if not candidates:
                continue
            # Several trees may hold a file of that name: prefer the importer's own.
            own = [c for c in candidates if _under(proto.path, c)]
            roots.add(max(own or candidates, key=lambda c: (c.count("/"), c)))
    # Then files no import placed: by their package, else the root above them.
    for proto in protos:
        if any(_under(proto.path, r) for r in roots):
            continue
        directory = posixpath.dirname(proto.path) or "."
        package_dir = proto.package.replace(".", "/")
        if package_dir and (directory == package_dir or directory.endswith("/" + package_dir)):
            roots.add(directory[: -len(package_dir)].rstrip("/") or ".")
        else:
            roots.add(".")
    return sorted(roots)


def _explicit_roots(root: Path, modules: Iterable[str]) -> list[str]:
    out = []
    for module in modules:
        rel = posixpath.normpath(module.replace(os.sep, "/"))
        if rel.startswith("..") or posixpath.isabs(rel) or not (root / rel).is_dir():
            raise UsageError(f"--module {module}: not a directory inside {root}")
        out.append(rel)
    return sorted(set(out))


def _resolves(name: str, roots: list[str], protos: list[_Proto]) -> bool:
    if name.startswith(_WELL_KNOWN):
        return True
    paths = {p.path for p in protos}
    return any(_join(r, name) in paths for r in roots)


def _infer_go_module(protos: list[_Proto], roots: list[str]) -> str | None:
    """The Go module the files' go_package options agree on.

    First the exact reading: each import path minus the file's directory inside its
    root, when every file mirrors its folder. Otherwise the longest common prefix
    of the import paths (path elements, at least a host and one more), since
    protoc-gen-go with module= places any import path inside the module: upstream
    trees such as OpenTelemetry's (`go.opentelemetry.io/proto/otlp/...` for
    `opentelemetry/proto/...`) do not mirror their folders.
    """
    paths = [p.go_package.partition(";")[0] for p in protos if p.go_package]
    if not paths:
        return None
    found: set[str] = set()
    for proto in protos:
        if not proto.go_package:
            continue
        path = proto.go_package.partition(";")[0]
        root = max((r for r in roots if _under(proto.path, r)), key=len, default=".")
        directory = posixpath.dirname(proto.path if root == "." else proto.path[len(root) + 1 :])
        if directory and not path.endswith("/" + directory):
            found.clear()
            break
        found.add(path[: len(path) - len(directory)].rstrip("/") if directory else path)
    if len(found) == 1:
        return found.pop()
    common = posixpath.commonpath(paths)
    return common if "/" in common else None


def _buf_yaml(roots: list[str], protos: list[_Proto], skipped: list[str]) -> str:
    modules = []
    for module in roots:
        # A root inside another is that one's exclusion: buf compiles each file once.
        excludes = [r for r in roots if r != module and _under(r, module)]
        excludes += [s for s in skipped if _under(s, module)]
        entry: dict[str, object] = {"path": module}
        if excludes:
            entry["excludes"] = sorted(excludes)
        modules.append(entry)
    body = yaml.safe_dump(
        {
            "version": "v2",
            "modules": modules,
            "lint": {"use": ["STANDARD"]},
            "breaking": {"use": ["FILE"]},
        },
        sort_keys=False,
    )
    return (
        "# buf's configuration, written by `contracts init`: the module roots the files'\n"
        "# imports resolve from, buf's STANDARD lint rules, FILE-level breaking checks.\n" + body
    )


def _read_tool_contracts(pyproject: Path) -> dict[str, object] | None:
    """The existing [tool.contracts] table, or None if pyproject.toml has none."""
    if not pyproject.is_file():
        return None
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject.name}: invalid TOML: {exc}") from None
    section = data.get("tool", {}).get("contracts")
    return section if isinstance(section, dict) else None


def _tool_contracts(go_module: str, prefix: str | None) -> str:
    lines = [
        "[tool.contracts]",
        "# The Go module `contracts gen` writes generated/go as.",
        f'go_module = "{go_module}"',
    ]
    if prefix is not None:
        lines += [
            "# Files without option go_package get <prefix>/<their directory>.",
            f'go_package_prefix = "{prefix}"',
        ]
    return "\n".join(lines) + "\n"
