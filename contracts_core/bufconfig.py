"""buf.yaml (and a v1 buf.work.yaml), read the way buf reads them.

We only need what changes how we call buf on a compiled image: where the modules
are, each module's effective lint and breaking sections, and the check plugins
and policies that apply to them. buf itself stays the judge of rule names,
values, plugins and policy files; we pass those through.
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
# A v1 workspace: its `directories` are the modules, each with its own buf.yaml.
WORK_NAMES = ("buf.work.yaml", "buf.work.yml")
# The buf files of one module, and every buf file a workspace root may hold.
MODULE_FILES = (*CONFIG_NAMES, "buf.lock")
ROOT_FILES = (*CONFIG_NAMES, *WORK_NAMES, "buf.lock")
_VERSIONS = ("v1beta1", "v1", "v2")
_PATH_LIST_KEYS = ("ignore",)
# Top-level v2 keys passed through to buf as they are (buf resolves their paths).
# Each entry names its plugin or policy under this key.
_PASSED_THROUGH = {"plugins": "plugin", "policies": "policy"}


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
    # v2 `plugins:` and `policies:` entries, as written.
    plugins: tuple[dict[str, Any], ...] = ()
    policies: tuple[dict[str, Any], ...] = ()
    # A v1 workspace (buf.work.yaml): the buf.yaml of each directory that has one.
    module_files: tuple[str, ...] = ()

    @property
    def is_work(self) -> bool:
        """Whether this is a v1 workspace (buf.work.yaml), each directory with its own buf.yaml."""
        return self.file is not None and self.file.name in WORK_NAMES

    def files(self) -> list[str]:
        """Workspace-relative paths of the buf files that define this workspace."""
        if self.file is None:
            return []
        root = self.file.parent
        out = [self.file.name]
        if (root / "buf.lock").is_file():
            out.append("buf.lock")
        for config in self.module_files:
            out.append(config)
            lock = posixpath.join(posixpath.dirname(config), "buf.lock")
            if (root / lock).is_file():
                out.append(lock)
        return out

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
        config: dict[str, Any] = {"version": self.version}
        if self.plugins:
            config["plugins"] = list(self.plugins)
        if self.policies:
            # buf 1.75 matches a policy's ignore paths against module-relative
            # names, as an image names its files: passed through unchanged.
            config["policies"] = list(self.policies)
        if self.version == "v2" and module.path != ".":
            body = _rebase_paths(body, module.path)
        config[section] = body
        return json.dumps(config, sort_keys=True)


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


def find(root: Path) -> Path | None:
    """The buf.yaml or buf.work.yaml of a workspace root; both at once is an error, as in buf."""
    config = next((root / n for n in CONFIG_NAMES if (root / n).is_file()), None)
    work = next((root / n for n in WORK_NAMES if (root / n).is_file()), None)
    if config is not None and work is not None:
        raise ConfigError(
            f"{work.name}: a {work.name} and a {config.name} in the same folder; buf refuses "
            f"both, so keep {work.name} and move {config.name} into one of its directories"
        )
    return work or config


def load_dir(root: Path) -> BufConfig:
    """The configuration of a workspace root: its buf.work.yaml, buf.yaml, or buf's defaults."""
    path = find(root)
    if path is None:
        return default_config()
    if path.name in WORK_NAMES:
        return load_work(path, root)
    return load(path, root)


def work_directories(path: Path, root: Path) -> tuple[str, ...]:
    """The `directories` of a buf.work.yaml, normalised and checked."""
    rel = path.relative_to(root).as_posix()
    raw = _yaml(path, rel)
    version = raw.get("version")
    if version != "v1":
        raise ConfigError(
            f"{rel}:{_line_of(path, 'version')}: buf.work.yaml version must be 'v1', "
            f"got {version!r}"
        )
    dirs = _paths(raw.get("directories"), "directories", rel, path)
    if not dirs:
        raise ConfigError(f"{rel}:{_line_of(path, 'directories')}: 'directories' must list folders")
    for d in dirs:
        if d == "." or d.startswith("..") or posixpath.isabs(d):
            raise ConfigError(
                f"{rel}:{_line_of(path, 'directories', d)}: directory {d!r} must be a folder "
                "inside the workspace"
            )
    return dirs


def load_work(path: Path, root: Path) -> BufConfig:
    """A v1 workspace: each directory a module, configured by its own buf.yaml (or defaults)."""
    modules = []
    module_files = []
    for directory in work_directories(path, root):
        config_path = next(
            (root / directory / n for n in CONFIG_NAMES if (root / directory / n).is_file()), None
        )
        if config_path is None:
            modules.append(Module(path=directory))
            continue
        module_files.append(config_path.relative_to(root).as_posix())
        inner = load(config_path, root / directory)
        if inner.version == "v2" or len(inner.modules) != 1:
            raise ConfigError(
                f"{directory}/{config_path.name}:1: a buf.work.yaml directory needs a v1 "
                "buf.yaml with one module (no build.roots)"
            )
        (module,) = inner.modules
        modules.append(
            Module(
                path=directory,
                # v1 excludes are relative to the module; ours to the workspace.
                excludes=tuple(posixpath.join(directory, e) for e in module.excludes),
                lint=module.lint,
                breaking=module.breaking,
            )
        )
    return BufConfig(
        version="v1", modules=tuple(modules), file=path, module_files=tuple(module_files)
    )


def _yaml(path: Path, rel: str) -> dict[str, Any]:
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
    return raw


def load(path: Path, root: Path) -> BufConfig:
    rel = path.relative_to(root).as_posix()
    raw = _yaml(path, rel)
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
        plugins, policies = (_entries(raw, key, rel, path) for key in _PASSED_THROUGH)
        return BufConfig(version, modules, path, plugins=plugins, policies=policies)
    return BufConfig(
        version=version, modules=_v1_modules(raw, lint, breaking, rel, path), file=path
    )


def _entries(raw: dict[str, Any], key: str, rel: str, path: Path) -> tuple[dict[str, Any], ...]:
    """`plugins:` or `policies:`: a list of mappings, each naming its plugin or policy."""
    value = raw.get(key)
    if value is None:
        return ()
    name = _PASSED_THROUGH[key]
    if not isinstance(value, list) or not all(
        isinstance(v, dict) and isinstance(v.get(name), str) for v in value
    ):
        raise ConfigError(
            f"{rel}:{_line_of(path, key)}: '{key}' must be a list of mappings, each with a "
            f"'{name}' string"
        )
    return tuple(value)


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
        if value is not None and line.strip() == f"- {value}":
            return number  # an entry of a block list under key, as in `directories:`
    return 1
