"""`contracts registry check` and `registry push`: the workspace's contracts against a
registry, subject by subject.

Check registers nothing. Per subject (imports first): a subject the registry
does not have is new; one that already holds this exact schema, with the same
references, is unchanged; any other is checked under its own compatibility mode
with the registry's verbose compatibility call, each difference a finding named
by its Confluent difference type and path. An import whose file changed is
checked under its own subject; the files importing it are checked against its
latest registered version (a file that needs the import's new form to compile
is reported as not checked until the import is pushed).

Push checks first and registers nothing when any subject is incompatible; then
registers each subject in order, imports first, each import a reference to the
version it just got. A second push registers nothing and reports the same ids.
The registry still gates each registration itself (another push may have come
first): a refusal stops the push there and is reported with its differences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from contracts_core.errors import ToolError, UsageError
from contracts_core.findings import Finding
from contracts_core.image import Image, compile_workspace
from contracts_core.workspace import Workspace

from .client import DEFAULT_TIMEOUT_S, Registered
from .errors import RegistryError
from .subjects import Entry, plan, reference_subject, schema_body
from .targets import Target, connect

# The registry could not compile a file it should compile (nothing pending on an import).
INVALID_SCHEMA = "REGISTRY_INVALID_SCHEMA"
T = TypeVar("T")


class Status(StrEnum):
    NEW = "new"  # the registry has no such subject: nothing to be compatible with
    UNCHANGED = "unchanged"  # already registered, exactly
    COMPATIBLE = "compatible"
    INCOMPATIBLE = "incompatible"
    NOT_CHECKED = "not checked"  # it needs an import the registry does not hold yet
    REGISTERED = "registered"  # push: a new version


@dataclass(frozen=True)
class SubjectResult:
    subject: str
    path: str  # the workspace file
    status: Status
    mode: str = ""
    registered: Registered | None = None
    findings: tuple[Finding, ...] = ()
    detail: str = ""

    def line(self) -> str:
        """One line for the report: `SUBJECT: STATUS (...)`."""
        parts = []
        if self.mode:
            parts.append(self.mode)
        if self.registered:
            parts.append(f"version {self.registered.version}, id {self.registered.id}")
        if self.status is Status.INCOMPATIBLE:
            parts.append(f"{len(self.findings)} difference(s)")
        if self.detail:
            parts.append(self.detail)
        shown = f" ({'; '.join(parts)})" if parts else ""
        return f"{self.subject}: {self.status.value}{shown}"

    def as_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {"subject": self.subject, "file": self.path, "status": self.status}
        if self.mode:
            item["mode"] = self.mode
        if self.registered:
            item |= {"version": self.registered.version, "id": self.registered.id}
        if self.detail:
            item["detail"] = self.detail
        return item


@dataclass(frozen=True)
class SyncReport:
    where: str
    subjects: tuple[SubjectResult, ...]
    pushed: bool = False

    @property
    def findings(self) -> list[Finding]:
        return sorted({f for s in self.subjects for f in s.findings}, key=Finding.sort_key)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for s in self.subjects:
            counts[s.status.value] = counts.get(s.status.value, 0) + 1
        listed = ", ".join(f"{n} {status}" for status, n in counts.items())
        return f"registry {self.where}: {len(self.subjects)} subject(s): {listed or 'none'}"


def run_registry(
    ws: Workspace,
    *,
    push: bool,
    url: str | None = None,
    store: Path | None = None,
    auth_file: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> SyncReport:
    """`contracts registry push` or `check`: the registry the options or the settings name."""
    target = connect(ws.settings.registry, url, store, auth_file, timeout, create=push)
    if target is None:
        raise UsageError(
            "no registry to talk to: give --url or --store, or set url or store in "
            "[tool.contracts.registry] of pyproject.toml"
        )
    try:
        image = compile_workspace(ws)
        return push_workspace(ws, image, target) if push else check_workspace(ws, image, target)
    finally:
        target.close()


def check_configured(ws: Workspace, image: Image, url: str | None = None) -> SyncReport | None:
    """`contracts check`'s registry step: the check against --registry-url, else against
    the configured registry; None when there is none."""
    target = connect(ws.settings.registry, url=url)
    if target is None:
        return None
    try:
        return check_workspace(ws, image, target)
    finally:
        target.close()


def check_workspace(ws: Workspace, image: Image, target: Target) -> SyncReport:
    """Each subject's verdict against the registry; registers nothing."""
    entries = plan(image, ws.settings.registry.subject_strategy)
    results: list[SubjectResult] = []
    # The version each reference subject is (or will be) referenced at, and whether
    # that version is exactly the working tree's file.
    refs: dict[str, tuple[int, bool]] = {}
    for entry in entries:
        existing = _call(target, entry, target.versions, entry.subject)
        result = _check_one(ws, image, target, entry, existing, refs)
        results.append(result)
        if entry.subject == reference_subject(entry.file):
            if result.status is Status.UNCHANGED and result.registered:
                refs[entry.subject] = (result.registered.version, True)
            elif existing:
                refs[entry.subject] = (existing[-1], False)
    return SyncReport(target.where, tuple(results))


def push_workspace(ws: Workspace, image: Image, target: Target) -> SyncReport:
    """Register every subject, imports first, when all are compatible."""
    checked = check_workspace(ws, image, target)
    if checked.findings:
        return checked
    entries = plan(image, ws.settings.registry.subject_strategy)
    versions: dict[str, int] = {}
    results: list[SubjectResult] = []
    for entry, before in zip(entries, checked.subjects, strict=True):
        body = schema_body(image, ws.root, entry, versions)
        try:
            got = target.register(entry.subject, body)
        except RegistryError as exc:
            if exc.status != 409:
                raise _failed(target, entry, exc) from None
            differences = _call(target, entry, target.compatibility, entry.subject, body)
            findings = _mapped(image, entry, "", differences)
            results.append(
                SubjectResult(entry.subject, entry.path, Status.INCOMPATIBLE, findings=findings)
            )
            return SyncReport(target.where, tuple(results), pushed=True)
        if entry.subject == reference_subject(entry.file):
            versions[entry.subject] = got.version
        status = Status.UNCHANGED if before.status is Status.UNCHANGED else Status.REGISTERED
        results.append(SubjectResult(entry.subject, entry.path, status, before.mode, got))
    return SyncReport(target.where, tuple(results), pushed=True)


def _check_one(
    ws: Workspace,
    image: Image,
    target: Target,
    entry: Entry,
    existing: list[int] | None,
    refs: dict[str, tuple[int, bool]],
) -> SubjectResult:
    if existing is None:
        return SubjectResult(entry.subject, entry.path, Status.NEW)
    missing = [name for name in entry.imports if reference_subject(name) not in refs]
    if missing:
        return SubjectResult(
            entry.subject,
            entry.path,
            Status.NOT_CHECKED,
            detail=f"imports {', '.join(missing)}, which the registry does not hold yet",
        )
    versions = {subject: version for subject, (version, _) in refs.items()}
    body = schema_body(image, ws.root, entry, versions)
    exact = all(refs[reference_subject(name)][1] for name in entry.imports)
    if exact:
        found = _call(target, entry, target.lookup, entry.subject, body)
        if found is not None:
            return SubjectResult(entry.subject, entry.path, Status.UNCHANGED, registered=found)
    mode = _call(target, entry, target.mode, entry.subject)
    try:
        raw = target.compatibility(entry.subject, body)
    except RegistryError as exc:
        if exc.code != 42201:
            raise _failed(target, entry, exc) from None
        if not exact:
            return SubjectResult(
                entry.subject,
                entry.path,
                Status.NOT_CHECKED,
                mode,
                detail="it compiles only with its imports as they are now; push them first "
                f"({exc.message})",
            )
        invalid = Finding(
            entry.path, 0, 0, INVALID_SCHEMA, f"subject {entry.subject!r}: {exc.message}"
        )
        return SubjectResult(
            entry.subject, entry.path, Status.INCOMPATIBLE, mode, findings=(invalid,)
        )
    findings = _mapped(image, entry, mode, raw)
    status = Status.INCOMPATIBLE if findings else Status.COMPATIBLE
    return SubjectResult(entry.subject, entry.path, status, mode, findings=findings)


def _mapped(image: Image, entry: Entry, mode: str, raw: Sequence[Finding]) -> tuple[Finding, ...]:
    """The registry's findings placed in the workspace: the schema it compiled under its
    own name is the entry's file; a referenced file is its import path's file."""
    label = f"subject {entry.subject!r}" + (f" ({mode})" if mode else "")
    return tuple(
        replace(
            f,
            file=image.workspace_path(f.file) if f.file in image.files else entry.path,
            message=f"{label}: {f.message}",
        )
        for f in raw
    )


def _call(target: Target, entry: Entry, call: Callable[..., T], *args: Any) -> T:
    """A registry call whose refusal ends the command (exit 2), naming the subject."""
    try:
        return call(*args)
    except RegistryError as exc:
        raise _failed(target, entry, exc) from None


def _failed(target: Target, entry: Entry, exc: RegistryError) -> ToolError:
    return ToolError(
        f"registry {target.where} refused subject {entry.subject!r} ({entry.path}): "
        f"{exc.message} (error code {exc.code})"
    )
