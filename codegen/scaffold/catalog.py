"""The scaffold templates: folders the scaffolder discovers, and their rendering.

A template is a folder `<name>/` holding `template.toml` (a one-line
`description`, a `version`, optionally `view`, an extra view model such as
"inference", and optionally `extends`, the template it builds on) and `files/`, the
tree it renders: every `*.j2` file becomes the same relative path without `.j2`, with
a folder named `__package__` renamed to the service's Python package. The built-in
templates live next to this module; a workspace adds or overrides them under
`<[tool.contracts] templates>/scaffold/<name>/`, through the one template
loader of codegen (a file there replaces the built-in file of that name).

A template that `extends` another renders the base's files it does not have itself;
a file it has replaces the base's. To change only part of a base file, the derived
file starts with `{% extends "<base>/files/<path>.j2" %}` and fills the base's
`{% block %}`s: template names are relative to the templates folder, so every
template's files are in reach of every other's. A derived template without `view`
renders with its base's.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
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
_KEYS = {"description", "version", "view", "extends"}
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
    extends: str = ""  # the template it builds on, "" for none
    # The template and those it extends, nearest first: where its files come from.
    chain: tuple[str, ...] = ()


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
    return {name: _resolve(found[name], found) for name in sorted(found)}


def _resolve(info: TemplateInfo, found: dict[str, TemplateInfo]) -> TemplateInfo:
    """The template with its chain of bases, and its base's view if it names none;
    ConfigError naming the manifest when a base is unknown or the chain comes back."""
    chain = [info]
    while chain[-1].extends:
        child = chain[-1]
        base = found.get(child.extends)
        if base is None:
            raise ConfigError(
                f"{child.manifest}: extends {child.extends!r}, which is not a template; "
                f"the templates are {', '.join(sorted(found))}"
            )
        if base in chain:
            cycle = " -> ".join(t.name for t in (*chain[chain.index(base) :], base))
            raise ConfigError(f"{child.manifest}: extends {child.extends!r}, a cycle: {cycle}")
        chain.append(base)
    view = next((t.view for t in chain if t.view), "")
    return replace(info, view=view, chain=tuple(t.name for t in chain))


def _read_manifest(name: str, manifest: Path) -> TemplateInfo:
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{manifest}: not a readable template manifest: {exc}") from None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{manifest}: unknown key(s) {', '.join(unknown)}; a template manifest has "
            f"{', '.join(sorted(_KEYS))}"
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
    extends = data.get("extends", "")
    if not isinstance(extends, str):
        raise ConfigError(f'{manifest}: extends must be the name of a template, such as "grpc"')
    return TemplateInfo(name, description.strip(), version, manifest, view, extends)


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
    loader = Templates(override_dir=roots[0] if len(roots) > 1 else None, builtin_dir=BUILTIN_DIR)
    out: dict[str, str] = {}
    for path, owner in sorted(owners(info, override_dir).items()):
        parts = path.removesuffix(_SUFFIX).split("/")
        rel = "/".join(view.package if p == _PACKAGE_DIR else p for p in parts)
        out[rel] = loader.render(f"{owner}/{_FILES}/{path}", view=view)
    if not out:
        raise ConfigError(f"{info.manifest.parent}: the template has no {_FILES}/*{_SUFFIX}")
    return out


def owners(info: TemplateInfo, override_dir: Path | None) -> dict[str, str]:
    """Each file the template renders (its path under files/) -> the template of its
    chain it comes from: the nearest that has it, in the workspace or built in."""
    found: dict[str, str] = {}
    for name in info.chain or (info.name,):
        for root in _roots(override_dir):
            files = root / name / _FILES
            for p in files.rglob(f"*{_SUFFIX}"):
                if p.is_file():
                    found.setdefault(p.relative_to(files).as_posix(), name)
    return found
