"""`contracts new service`: render a template for one service and write it, or merge
it into the service's edited files (`update`).

Everything is decided before the first write (names, service, template, the
folder's state, every file's fate), so bad input leaves nothing half-written;
then each file is replaced in one rename, and the answers file goes last.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from codegen.scaffold import answers, catalog, merge
from codegen.scaffold.names import check_dir, service_names
from codegen.scaffold.view import RUNTIME_SOURCE, build_view
from contracts_core.errors import ExitCode, UsageError
from contracts_core.image import Image
from contracts_core.sources import write_atomically
from contracts_core.workspace import Workspace

_TOOLCHAIN = "fleet-contracts-toolchain"


class Action(StrEnum):
    WROTE = "wrote"
    UNCHANGED = "unchanged"
    REPLACED = "replaced"
    OVERWROTE = "overwrote"
    MERGED = "merged"
    KEPT = "kept"
    SKIPPED = "skipped"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class FileResult:
    path: str  # workspace-relative
    action: Action
    reason: str


@dataclass
class Request:
    name: str
    service: str | None = None
    template: str | None = None
    directory: str = "services"
    dry_run: bool = False
    force: bool = False
    update: bool = False


@dataclass
class Result:
    folder: str  # workspace-relative
    files: list[FileResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False
    # The answers file, once written.
    recorded: str = ""

    @property
    def conflicts(self) -> list[str]:
        return [f.path for f in self.files if f.action is Action.CONFLICT]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FINDINGS if self.conflicts else ExitCode.OK


DEFAULT_TEMPLATE = "grpc"


def list_templates(ws: Workspace | None) -> list[catalog.TemplateInfo]:
    return list(catalog.discover(ws.settings.templates if ws else None).values())


def new_service(ws: Workspace, image: Image, req: Request) -> Result:
    names = service_names(req.name)
    check_dir(req.directory)
    rel_folder = f"{req.directory.strip('/')}/{names.name}"
    folder = ws.root / rel_folder
    parent = folder.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"--dir {req.directory!r}: {parent} exists and is not a folder")
    recorded = _recorded(folder, req)
    service = req.service or (recorded.service if recorded else None)
    if service is None:
        raise UsageError("--service is required: the full name of a service, package.Service")
    if recorded and recorded.service != service:
        raise UsageError(
            f"{rel_folder} was scaffolded for {recorded.service}, not {service}; "
            "choose another NAME for another service"
        )
    template = req.template or (recorded.template if recorded else DEFAULT_TEMPLATE)
    if recorded and recorded.template != template:
        raise UsageError(
            f"{rel_folder} was scaffolded from template {recorded.template!r}, not "
            f"{template!r}; a service keeps its template"
        )
    override = ws.settings.templates
    info = catalog.choose(template, override)
    targets = [f.name for f in image.target_files()]
    model = image.model
    runtime_dir = RUNTIME_SOURCE if (ws.root / RUNTIME_SOURCE / "pyproject.toml").is_file() else ""
    view = catalog.extend(
        info, build_view(model, targets, service, names, rel_folder, runtime_dir), model
    )
    rendered = catalog.render(info, view, override)
    for rel in rendered:
        if rel.startswith("/") or ".." in rel.split("/") or rel == answers.FILE_NAME:
            raise UsageError(f"template {info.name}: it renders a file outside the service: {rel}")

    result = Result(folder=rel_folder, dry_run=req.dry_run)
    base = dict(recorded.files) if recorded else {}
    writes: dict[str, str] = {}
    record: dict[str, str] = {}
    for rel, new in rendered.items():
        current = _read(folder / rel)
        action, reason, text, recorded_base = _decide(
            rel_folder, rel, current, base.get(rel), new, req
        )
        shown = f"{rel_folder}/{rel}"
        result.files.append(FileResult(shown, action, reason))
        if text is not None and text != current:
            writes[rel] = text
        if recorded_base is not None:
            record[rel] = recorded_base
    for rel in sorted(set(base) - set(rendered)):
        result.notes.append(f"{rel_folder}/{rel}: the template no longer renders it; left in place")
    methods = [m.name for m in view.methods]
    if recorded:
        server = rendered.get(f"{view.package}/server.py", "")
        _note_methods(result, view.service, recorded.methods, methods, view.package, server)
        if recorded.template_version != info.version:
            result.notes.append(
                f"template {info.name}: version {recorded.template_version} -> {info.version}"
            )
    new_answers = answers.Answers(
        name=names.name,
        service=service,
        template=info.name,
        template_version=info.version,
        toolchain=_toolchain_version(),
        contract_digest=answers.contract_digest(model, model.by_name[service].file.name),
        methods=methods,
        files=record,
    )
    if req.dry_run:
        return result
    try:
        for rel, text in writes.items():
            write_atomically(folder / rel, text)
        write_atomically(folder / answers.FILE_NAME, new_answers.to_text())
    except OSError as exc:
        raise UsageError(f"{exc.filename or folder}: cannot be written ({exc.strerror})") from None
    result.recorded = f"{rel_folder}/{answers.FILE_NAME}"
    return result


def _recorded(folder: Path, req: Request) -> answers.Answers | None:
    """The folder's answers; checks that the folder may be written at all."""
    name = folder.name
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: exists and is not a folder")
    recorded = answers.read(folder) if folder.is_dir() else None
    if req.update and recorded is None:
        raise UsageError(
            f"{folder}: --update needs the answers file {answers.FILE_NAME} that "
            "`contracts new service` wrote there; it is missing, so there is no recorded "
            "render to merge against"
        )
    if recorded is None and folder.is_dir() and any(folder.iterdir()):
        raise UsageError(
            f"{folder}: exists and was not made by `contracts new service` (no "
            f"{answers.FILE_NAME}); choose another NAME, or --dir for another parent folder"
        )
    if recorded is not None and recorded.name != name:
        raise UsageError(
            f"{folder}/{answers.FILE_NAME}: records the service {recorded.name!r}, "
            f"not {name!r}; the folder was renamed or copied"
        )
    return recorded


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read ({exc})") from None


_UPDATE_HINT = "--update merges the new render into it, --force overwrites it"


def _decide(
    folder: str, rel: str, current: str | None, base: str | None, new: str, req: Request
) -> tuple[Action, str, str | None, str | None]:
    """(action, why, text to leave in the file or None, base to record or None)."""
    if current is None:
        if base is not None and req.update and not req.force:
            return Action.SKIPPED, "you deleted it after it was rendered", None, base
        return Action.WROTE, "new file", new, new
    if current == new:
        return Action.UNCHANGED, "already as rendered", None, new
    if req.force:
        return Action.OVERWROTE, "--force", new, new
    if base is not None and current == base:
        return Action.REPLACED, "you had not changed it", new, new
    if not req.update:
        why = "changed since it was rendered" if base is not None else "not rendered by us"
        return Action.SKIPPED, f"{why}; {_UPDATE_HINT}", None, base
    if base == new:
        return Action.KEPT, "the render did not change; your edits stay", None, new
    merged = merge.merge(f"{folder}/{rel}", current, base or "", new)
    if merged.conflicts:
        return (
            Action.CONFLICT,
            f"{merged.conflicts} conflict(s) marked with <<<<<<< / >>>>>>>; resolve them",
            merged.text,
            new,
        )
    return Action.MERGED, "your edits and the new render merged cleanly", merged.text, new


def _note_methods(
    result: Result,
    service: str,
    before: list[str],
    after: list[str],
    package: str,
    server: str,
) -> None:
    """`server` is the new render of server.py: whether the template writes a stub for
    a new RPC (the grpc template does; gpu-inference only handles its own five)."""
    for name in after:
        if name not in before:
            if re.search(rf"\bdef {re.escape(name)}\(", server):
                what = f"a handler stub in {package}/server.py answers UNIMPLEMENTED"
            else:
                what = (
                    f"this template writes no handler for it: the generated servicer's "
                    f"default answers UNIMPLEMENTED; add an `async def {name}` to "
                    f"{package}/server.py"
                )
            result.notes.append(f"new RPC /{service}/{name}: {what} until you write it")
    for name in before:
        if name not in after:
            result.notes.append(
                f"removed RPC /{service}/{name}: no longer in the contract; check its "
                f"handler in {package}/server.py and its test (kept where you had edited them)"
            )


def _toolchain_version() -> str:
    try:
        return importlib.metadata.version(_TOOLCHAIN)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
