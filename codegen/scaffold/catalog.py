"""The scaffold templates: folders the scaffolder discovers, and their rendering.

A template is a folder `<name>/` holding `template.toml` (a one-line
`description`, a `version` and optionally `view`, an extra view model such as
"inference") and `files/`, the tree it renders: every
`*.j2` file becomes the same relative path without `.j2`, with a folder
named `__package__` renamed to the service's Python package. The built-in
templates live next to this module; a workspace adds or overrides them under
`<[tool.contracts] templates>/scaffold/<name>/`, through the one template
loader of codegen (a file there replaces the built-in file of that name).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codegen.gen.templates import Templates
from codegen.scaffold import inference_view
from codegen.scaffold.view import ServiceView
from contracts_core.descriptors import Model
from contracts_core.errors import ConfigError, UsageError

BUILTIN_DIR = Path(__file__).resolve().parent / "templates"
# The folder of scaffold templates inside a workspace's templates override folder.
OVERRIDE_SUBDIR = "scaffold"
MANIFEST = "template.toml"
_FILES = "files"
_SUFFIX = ".j2"
_PACKAGE_DIR = "__package__"
_KEYS = {"description", "version", "view"}
# A template's extra view model, by the name its manifest gives as `view`.
VIEWS: dict[str, Callable[[ServiceView, Model], ServiceView]] = {
    inference_view.NAME: inference_view.extend
}


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    description: str
    version: str
    manifest: Path
    view: str = ""  # the extra view model it renders with (VIEWS), "" for none


def _roots(override_dir: Path | None) -> list[Path]:
    """Where templates are looked up, the workspace's first."""
    extra = override_dir / OVERRIDE_SUBDIR if override_dir else None
    return [extra, BUILTIN_DIR] if extra and extra.is_dir() else [BUILTIN_DIR]


def discover(override_dir: Path | None) -> dict[str, TemplateInfo]:
    """Every template by name; a workspace's template.toml wins over the built-in one."""
    found: dict[str, TemplateInfo] = {}
    for root in _roots(override_dir):
        for manifest in sorted(root.glob(f"*/{MANIFEST}")):
            name = manifest.parent.name
            if name not in found:
                found[name] = _read_manifest(name, manifest)
    return dict(sorted(found.items()))


def _read_manifest(name: str, manifest: Path) -> TemplateInfo:
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{manifest}: not a readable template manifest: {exc}") from None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{manifest}: unknown key(s) {', '.join(unknown)}; a template manifest has "
            f"{' and '.join(sorted(_KEYS))}"
        )
    description, version = data.get("description"), data.get("version")
    if not isinstance(description, str) or not description.strip():
        raise ConfigError(f"{manifest}: description must be a non-empty string")
    if not isinstance(version, str) or not version.strip():
        raise ConfigError(f'{manifest}: version must be a non-empty string, such as "1"')
    view = data.get("view", "")
    if view and view not in VIEWS:
        raise ConfigError(
            f"{manifest}: view {view!r} is not a view model; the view models are "
            + ", ".join(sorted(VIEWS))
        )
    return TemplateInfo(name, description.strip(), version, manifest, view)


def extend(info: TemplateInfo, view: ServiceView, model: Model) -> ServiceView:
    """The view with the template's extra view model, if it names one."""
    return VIEWS[info.view](view, model) if info.view else view


def choose(name: str, override_dir: Path | None) -> TemplateInfo:
    templates = discover(override_dir)
    if name not in templates:
        listed = "\n  ".join(f"{t.name}: {t.description}" for t in templates.values())
        raise UsageError(f"--template {name!r}: no such template; the templates are:\n  {listed}")
    return templates[name]


def render(info: TemplateInfo, view: ServiceView, override_dir: Path | None) -> dict[str, str]:
    """The template's files for this service: service-relative posix path -> text."""
    roots = _roots(override_dir)
    names: set[str] = set()
    for root in roots:
        files = root / info.name / _FILES
        names.update(
            p.relative_to(root).as_posix() for p in files.rglob(f"*{_SUFFIX}") if p.is_file()
        )
    loader = Templates(override_dir=roots[0] if len(roots) > 1 else None, builtin_dir=BUILTIN_DIR)
    out: dict[str, str] = {}
    prefix = f"{info.name}/{_FILES}/"
    for name in sorted(names):
        parts = name.removeprefix(prefix).removesuffix(_SUFFIX).split("/")
        rel = "/".join(view.package if p == _PACKAGE_DIR else p for p in parts)
        out[rel] = loader.render(name, view=view)
    if not out:
        raise ConfigError(f"{info.manifest.parent}: the template has no {_FILES}/*{_SUFFIX}")
    return out
