"""buf.yaml, read the way buf reads it.

We only need what changes how we call buf on a compiled image: where the modules
are, and each module's effective lint and breaking sections. buf itself stays the
judge of rule names and values; we pass the sections through.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contracts_core import sources
from contracts_core.errors import ConfigError, read_config

CONFIG_NAMES = ("buf.yaml", "buf.yml")
_VERSIONS = ("v1beta1", "v1", "v2")
_PATH_LIST_KEYS = ("ignore",)


@dataclass(frozen=True)
class Module:
    """One buf module: a directory of .proto files, relative to the workspace root."""

    path: str
    excludes: tuple[str, ...] = ()
    lint: dict[str, Any] = field(default_factory=dict)
    breaking: dict[str, Any] = field(default_factory=dict)

    def contains(self, workspace_path: str) -> bool:
        """Whether a workspace-relative file belongs to this module (and is not excluded)."""
        return sources.module_contains(self.path, self.excludes, workspace_path)

    def to_module_relative(self, workspace_path: str) -> str:
        return workspace_path if self.path == "." else posixpath.relpath(workspace_path, self.path)

    def to_workspace_relative(self, module_path: str) -> str:
        return module_path if self.path == "." else posixpath.join(self.path, module_path)


@dataclass(frozen=True)
class BufConfig:
    """The parsed buf.yaml of a workspace (or buf's defaults when there is none)."""

    version: str
    modules: tuple[Module, ...]
    file: Path | None

    def where(self, key: str, value: str | None = None) -> str:
        """`buf.yaml:LINE` of a key (with this value), for pointing at a bad setting."""
        if self.file is None:
            return "buf.yaml"
        return f"{self.file.name}:{_line_of(self.file, key, value)}"

    def image_config(self, module: Module, section: str) -> str:
        """buf's --config JSON for checking this module's files inside an image.

        An image names files relative to their module, while v2 workspace configs
        name ignore paths relative to the workspace: translate so that
        `buf lint <image>` agrees with `buf lint <dir>`.
        """
        body = dict(module.lint if section == "lint" else module.breaking)
        if self.version == "v2" and module.path != ".":
            body = _rebase_paths(body, module.path)
        return json.dumps({"version": self.version, section: body}, sort_keys=True)


def _rebase_paths(section: dict[str, Any], module_path: str) -> dict[str, Any]:
    # Paths outside the module cannot match its files; dropping them keeps them
    # from matching a same-named module-relative path by accident.
    def rebase(paths: list[str]) -> list[str]:
        # buf accepts `./a/b` and `a/b/` for `a/b`; normalise before comparing.
        normal = [posixpath.normpath(p) for p in paths if isinstance(p, str)]
        return [
            posixpath.relpath(p, module_path) for p in normal if sources.is_under(p, module_path)
        ]

    out = dict(section)
    for key in _PATH_LIST_KEYS:
        if isinstance(out.get(key), list):
            out[key] = rebase(out[key])
    if isinstance(out.get("ignore_only"), dict):
        out["ignore_only"] = {
            rule: rebase(paths) if isinstance(paths, list) else paths
            for rule, paths in out["ignore_only"].items()
        }
    return out


def default_config() -> BufConfig:
    """buf's behaviour in a directory with no buf.yaml: one module at the root."""
    return BufConfig(version="v2", modules=(Module(path="."),), file=None)


def load(path: Path, root: Path) -> BufConfig:
    rel = path.relative_to(root).as_posix()
    text = read_config(path, rel)
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{rel}:{mark.line + 1}:{mark.column + 1}" if mark else rel
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{rel}: invalid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{rel}: expected a mapping at the top level, got {type(raw).__name__}")
    version = raw.get("version", "v1beta1")
    if version not in _VERSIONS:
        line = _line_of(path, "version")
        raise ConfigError(
            f"{rel}:{line}: unknown buf.yaml version {version!r}; expected one of {', '.join(_VERSIONS)}"
        )
    lint = _section(raw, "lint", rel, path)
    breaking = _section(raw, "breaking", rel, path)
    if version == "v2":
        modules = _v2_modules(raw, lint, breaking, rel, path)
    else:
        modules = _v1_modules(raw, lint, breaking, rel, path)
    return BufConfig(version=version, modules=modules, file=path)


def _section(raw: dict[str, Any], key: str, rel: str, path: Path) -> dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{rel}:{_line_of(path, key)}: '{key}' must be a mapping")
    return value


def _v2_modules(
    raw: dict[str, Any], lint: dict[str, Any], breaking: dict[str, Any], rel: str, path: Path
) -> tuple[Module, ...]:
    entries = raw.get("modules") or [{"path": "."}]
    if not isinstance(entries, list):
        raise ConfigError(f"{rel}:{_line_of(path, 'modules')}: 'modules' must be a list")
    modules = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("path", "."), str):
            raise ConfigError(
                f"{rel}:{_line_of(path, 'modules')}: each module needs a 'path' string"
            )
        mod_path = posixpath.normpath(entry.get("path", "."))
        if mod_path.startswith("..") or posixpath.isabs(mod_path):
            raise ConfigError(
                f"{rel}:{_line_of(path, 'path', entry['path'])}: module path {mod_path!r} "
                "must stay inside the workspace"
            )
        # A module's own lint/breaking section replaces the workspace default, as in buf.
        modules.append(
            Module(
                path=mod_path,
                excludes=_paths(entry.get("excludes"), "excludes", rel, path),
                lint=entry.get("lint") or lint,
                breaking=entry.get("breaking") or breaking,
            )
        )
    return tuple(modules)


def _v1_modules(
    raw: dict[str, Any], lint: dict[str, Any], breaking: dict[str, Any], rel: str, path: Path
) -> tuple[Module, ...]:
    build = raw.get("build") or {}
    if not isinstance(build, dict):
        raise ConfigError(f"{rel}:{_line_of(path, 'build')}: 'build' must be a mapping")
    excludes = _paths(build.get("excludes"), "excludes", rel, path)
    roots = _paths(build.get("roots"), "roots", rel, path) or (".",)
    return tuple(
        Module(path=posixpath.normpath(r), excludes=excludes, lint=lint, breaking=breaking)
        for r in roots
    )


def _paths(value: Any, key: str, rel: str, path: Path) -> tuple[str, ...]:
    """A list of paths (excludes, roots), normalised; anything else is a ConfigError."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{rel}:{_line_of(path, key)}: '{key}' must be a list of paths")
    return tuple(posixpath.normpath(v) for v in value)


def _line_of(path: Path, key: str, value: str | None = None) -> int:
    """The 1-based line where a key (with this value, if given) first appears."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip().removeprefix("- ")
        if text.startswith(f"{key}:") and (value is None or value in text[len(key) + 1 :]):
            return number
    return 1
