"""[tool.contracts] in the workspace's pyproject.toml: our settings, validated.

buf's settings stay in buf.yaml; this holds only what buf has no place for
(our lint rules, the Go module path, generation targets).
"""

from __future__ import annotations

import re
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts_core.errors import ConfigError, read_config

_SEVERITIES = ("error", "warning")
_GO_MODULE = re.compile(r"^[a-z0-9.\-]+(/[A-Za-z0-9._~\-]+)*$")


@dataclass(frozen=True)
class LintSettings:
    """Per-rule settings for our own lint rules."""

    disable: frozenset[str] = frozenset()
    severity: dict[str, str] = field(default_factory=dict)
    # Rule ID -> workspace-relative path prefixes where the rule does not apply.
    ignore: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Proto package globs whose messages travel as JSON; None means all of them.
    json_packages: tuple[str, ...] | None = None

    def rule_ids(self) -> set[str]:
        return set(self.disable) | set(self.severity) | set(self.ignore)


@dataclass(frozen=True)
class GoPackageSettings:
    """Go packages for files that do not declare one, without editing them.

    Like buf's managed mode: a file's go_package comes from `go_package_override`
    (module-relative file name -> "import/path;name") if listed there, else from
    its own option, else from `go_package_prefix` + "/" + its directory.
    """

    prefix: str | None = None
    override: dict[str, str] = field(default_factory=dict)
    # Where the override table is written, for errors about its entries.
    override_where: str = "[tool.contracts] go_package_override"


SUBJECT_STRATEGIES = ("file", "record")


@dataclass(frozen=True)
class RegistrySettings:
    """[tool.contracts.registry]: the schema registry that `contracts registry push`,
    `registry check` and `contracts check` talk to, and how subjects are named.

    `url` or `store` (a SQLite file, workspace-relative), never both; credentials never
    live here (they come from the environment or a file, see compat_checks/registry/client_auth.py).
    """

    url: str | None = None
    store: Path | None = None
    # "file": a file's subject is its import path (fleet/tasks/v1/envelope.proto);
    # "record": one subject per top-level message, by full name (fleet.tasks.v1.TaskEnvelope).
    subject_strategy: str = "file"

    @property
    def configured(self) -> bool:
        return self.url is not None or self.store is not None


@dataclass(frozen=True)
class Settings:
    go_module: str | None = None
    go_package: GoPackageSettings = field(default_factory=GoPackageSettings)
    # Folder of templates overriding the built-in ones by relative name.
    templates: Path | None = None
    lint: LintSettings = field(default_factory=LintSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    file: Path | None = None
    raw: str = ""

    def where(self, key: str) -> str:
        """`pyproject.toml:LINE` of a key, for pointing at a bad setting."""
        if self.file is None:
            return "[tool.contracts]"
        for number, line in enumerate(self.raw.splitlines(), start=1):
            if re.match(rf"\s*{re.escape(key)}\s*=", line):
                return f"{self.file.name}:{number}"
        return f"{self.file.name} [tool.contracts]"

    def line_of_string(self, value: str) -> int:
        """The line of pyproject.toml where a string setting such as an ignore path is
        written (quoted, perhaps with a trailing slash), or 1 when it cannot be found."""
        written = re.compile(rf"""["']{re.escape(value)}/*["']""")
        for number, line in enumerate(self.raw.splitlines(), start=1):
            if written.search(line):
                return number
        return 1


_TOP_KEYS = {
    "go_module",
    "go_package_prefix",
    "go_package_override",
    "templates",
    "lint",
    "registry",
}
# A go_package value: an import path, optionally `;` and a Go package name.
_GO_PACKAGE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LINT_KEYS = {"disable", "severity", "ignore", "json_packages"}
_REGISTRY_KEYS = {"url", "store", "subject_strategy"}


def is_go_module_path(value: str) -> bool:
    """Whether value is a Go module path go_module accepts."""
    return bool(_GO_MODULE.match(value))


def load(pyproject: Path) -> Settings:
    if not pyproject.is_file():
        return Settings()
    text = read_config(pyproject, pyproject.name)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_error(pyproject.name, str(exc))) from None
    probe = Settings(file=pyproject, raw=text)
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{probe.where('tool')}: 'tool' must be a table")
    section = tool.get("contracts", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{probe.where('contracts')}: [tool.contracts] must be a table")
    _reject_unknown(section, _TOP_KEYS, "[tool.contracts]", probe)
    go_module = section.get("go_module")
    if go_module is not None and (
        not isinstance(go_module, str) or not _GO_MODULE.match(go_module)
    ):
        raise ConfigError(
            f"{probe.where('go_module')}: go_module {go_module!r} is not a valid Go module path "
            "(lowercase host, then /-separated path elements)"
        )
    templates = _templates(section.get("templates"), pyproject.parent, probe)
    lint = _lint(section.get("lint", {}), probe)
    go_package = _go_package(section, go_module, probe)
    registry = _registry(section.get("registry", {}), pyproject.parent, probe)
    return Settings(
        go_module=go_module,
        go_package=go_package,
        templates=templates,
        lint=lint,
        registry=registry,
        file=pyproject,
        raw=text,
    )


def _go_package(
    section: dict[str, Any], go_module: str | None, probe: Settings
) -> GoPackageSettings:
    prefix = section.get("go_package_prefix")
    if prefix is not None:
        where = probe.where("go_package_prefix")
        if not isinstance(prefix, str) or not _GO_MODULE.match(prefix):
            raise ConfigError(
                f"{where}: go_package_prefix {prefix!r} is not a valid Go import path "
                "(lowercase host, then /-separated path elements)"
            )
        if go_module is not None and not _inside(prefix, go_module):
            raise ConfigError(
                f"{where}: go_package_prefix {prefix!r} is outside go_module {go_module!r}; "
                "the go target can only place packages inside its module"
            )
    override = section.get("go_package_override", {})
    override_where = probe.where("go_package_override")
    if not isinstance(override, dict):
        raise ConfigError(
            f"{override_where}: go_package_override must be a table of "
            '"<file>.proto" = "<import path>;<package name>"'
        )
    for name, value in override.items():
        if not name.endswith(".proto"):
            raise ConfigError(
                f"{override_where}: go_package_override key {name!r} is not a .proto file name "
                "(write it as imports name it, relative to its module)"
            )
        path, _, package = value.partition(";") if isinstance(value, str) else ("", "", "")
        if not _GO_MODULE.match(path) or (package and not _GO_PACKAGE_NAME.match(package)):
            raise ConfigError(
                f"{override_where}: go_package_override[{name!r}] = {value!r} is not "
                '"<import path>" or "<import path>;<package name>"'
            )
    return GoPackageSettings(prefix, dict(override), override_where)


def _inside(path: str, module: str) -> bool:
    return path == module or path.startswith(module + "/")


def _templates(raw: Any, root: Path, probe: Settings) -> Path | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{probe.where('templates')}: templates must be a folder path")
    folder = (root / raw).resolve()
    if not folder.is_dir():
        raise ConfigError(f"{probe.where('templates')}: templates folder {raw!r} does not exist")
    return folder


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _toml_error(name: str, message: str) -> str:
    """tomllib's message with its `(at line L, column C)` moved to the front as file:L:C."""
    position = _TOML_POSITION.search(message)
    if position is None:
        return f"{name}: invalid TOML: {message}"
    line, column = position.groups()
    return f"{name}:{line}:{column}: invalid TOML: {message[: position.start()]}"


def _lint(raw: Any, probe: Settings) -> LintSettings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{probe.where('lint')}: [tool.contracts.lint] must be a table")
    _reject_unknown(raw, _LINT_KEYS, "[tool.contracts.lint]", probe)
    disable = _str_list(raw.get("disable", []), "disable", probe)
    severity = raw.get("severity", {})
    if not isinstance(severity, dict) or any(v not in _SEVERITIES for v in severity.values()):
        raise ConfigError(
            f"{probe.where('severity')}: severity must map rule IDs to one of {', '.join(_SEVERITIES)}"
        )
    ignore_raw = raw.get("ignore", {})
    if not isinstance(ignore_raw, dict):
        raise ConfigError(f"{probe.where('ignore')}: ignore must map rule IDs to lists of paths")
    ignore = {
        rule: tuple(p.rstrip("/") for p in _str_list(paths, f"ignore.{rule}", probe))
        for rule, paths in ignore_raw.items()
    }
    json_packages = raw.get("json_packages")
    return LintSettings(
        disable=frozenset(disable),
        severity={str(k): str(v) for k, v in severity.items()},
        ignore=ignore,
        json_packages=None
        if json_packages is None
        else tuple(_str_list(json_packages, "json_packages", probe)),
    )


def _registry(raw: Any, root: Path, probe: Settings) -> RegistrySettings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{probe.where('registry')}: [tool.contracts.registry] must be a table")
    _reject_unknown(raw, _REGISTRY_KEYS, "[tool.contracts.registry]", probe)
    for key in _REGISTRY_KEYS:
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{probe.where(key)}: registry {key} must be a non-empty string")
    url, store = raw.get("url"), raw.get("store")
    if url is not None and store is not None:
        raise ConfigError(
            f"{probe.where('store')}: [tool.contracts.registry] sets both url and store; "
            "set one (a registry's URL, or the SQLite file of a store to use directly)"
        )
    strategy = raw.get("subject_strategy", "file")
    if strategy not in SUBJECT_STRATEGIES:
        raise ConfigError(
            f"{probe.where('subject_strategy')}: subject_strategy {strategy!r} in "
            f"[tool.contracts.registry] is not supported; use one of: {', '.join(SUBJECT_STRATEGIES)}"
        )
    if url is not None and (problem := registry_url_problem(url)):
        raise ConfigError(f"{probe.where('url')}: registry url {problem}")
    return RegistrySettings(
        url=url, store=None if store is None else (root / store), subject_strategy=strategy
    )


def registry_url_problem(url: str) -> str | None:
    """Why a registry URL is refused, or None. Credentials in it are refused, and not
    repeated: a URL is written in config files and command lines, which others read."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        shown = parts._replace(netloc=f"***@{parts.netloc.rpartition('@')[2]}").geturl()
        return (
            f"{shown!r} holds credentials; give them in CONTRACTS_REGISTRY_USER_INFO, "
            "CONTRACTS_REGISTRY_TOKEN or an auth file instead"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http:// or https:// URL with a host"
    return None


def _str_list(value: Any, key: str, probe: Settings) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{probe.where(key.split('.')[0])}: {key} must be a list of strings")
    return list(value)


def _reject_unknown(table: dict[str, Any], known: set[str], name: str, probe: Settings) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(
                f"{probe.where(key)}: unknown key {key!r} in {name}; known keys: {', '.join(sorted(known))}"
            )
