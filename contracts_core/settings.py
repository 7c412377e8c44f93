"""[tool.contracts] in the workspace's pyproject.toml: our settings, validated.

buf's settings stay in buf.yaml; this holds only what buf has no place for
(our lint rules, the Go module path, generation targets).
"""

from __future__ import annotations

import re
import tomllib
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
class Settings:
    go_module: str | None = None
    # Folder of templates overriding the built-in ones by relative name.
    templates: Path | None = None
    lint: LintSettings = field(default_factory=LintSettings)
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


_TOP_KEYS = {"go_module", "templates", "lint"}
_LINT_KEYS = {"disable", "severity", "ignore", "json_packages"}


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
    return Settings(go_module=go_module, templates=templates, lint=lint, file=pyproject, raw=text)


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
