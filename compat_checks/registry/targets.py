"""Where `registry push` and `registry check` send the workspace's schemas: a registry
at a URL (its REST API), or a store file used directly (the registry's own rules
and compatibility engine in this process, no server). Both answer the same five
questions with the same types and the same `RegistryError`s."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any, Protocol

from compat_checks.compat import DifferenceType
from contracts_core.errors import UsageError
from contracts_core.findings import Audience, Finding
from contracts_core.settings import RegistrySettings, registry_url_problem

from .client import DEFAULT_TIMEOUT_S, Registered, RegistryClient
from .client_auth import credentials
from .errors import RegistryError
from .service import Registry
from .sqlite_store import SQLiteStore

# A message whose difference type this client cannot read (another registry's wording).
UNREAD_DIFFERENCE = "REGISTRY_INCOMPATIBLE"


class Target(Protocol):
    where: str  # the URL, or `store PATH`, for messages

    def versions(self, subject: str) -> list[int] | None: ...

    def mode(self, subject: str) -> str: ...

    def lookup(self, subject: str, body: dict[str, Any]) -> Registered | None: ...

    def compatibility(self, subject: str, body: dict[str, Any]) -> list[Finding]:
        """The differences the subject's mode rejects; file names as the registry
        compiled them (its own name for the schema, import paths for references)."""
        ...

    def register(self, subject: str, body: dict[str, Any]) -> Registered: ...

    def close(self) -> None: ...


class UrlTarget:
    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self.where = client.url

    def versions(self, subject: str) -> list[int] | None:
        return self.client.versions(subject)

    def mode(self, subject: str) -> str:
        return self.client.mode(subject)

    def lookup(self, subject: str, body: dict[str, Any]) -> Registered | None:
        return self.client.lookup(subject, body)

    def compatibility(self, subject: str, body: dict[str, Any]) -> list[Finding]:
        return [parse_message(m) for m in self.client.compatibility(subject, body)]

    def register(self, subject: str, body: dict[str, Any]) -> Registered:
        return self.client.register(subject, body)

    def close(self) -> None:
        pass


class StoreTarget:
    def __init__(self, path: Path, create: bool) -> None:
        if not create and not path.is_file():
            raise UsageError(f"registry store {path} does not exist")
        try:
            self.store = SQLiteStore(path)
        except sqlite3.Error as exc:
            raise UsageError(f"cannot open the registry store {path}: {exc}") from None
        self.registry = Registry(self.store)
        self.where = f"store {path}"

    def versions(self, subject: str) -> list[int] | None:
        found = self.registry.store.versions(subject, deleted=False)
        return [v.version for v in found] or None

    def mode(self, subject: str) -> str:
        return self.registry.mode(subject).value

    def lookup(self, subject: str, body: dict[str, Any]) -> Registered | None:
        try:
            found = self.registry.lookup(subject, body, deleted=False)
        except RegistryError as exc:
            if exc.code in (40401, 40403):
                return None
            raise
        return Registered(found.version, found.schema.id)

    def compatibility(self, subject: str, body: dict[str, Any]) -> list[Finding]:
        return self.registry.check_compatibility(subject, None, body)

    def register(self, subject: str, body: dict[str, Any]) -> Registered:
        v = self.registry.register(subject, body)
        return Registered(v.version, v.schema.id)

    def close(self) -> None:
        self.store.close()


def connect(
    settings: RegistrySettings,
    url: str | None = None,
    store: Path | None = None,
    auth_file: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    create: bool = False,
) -> Target | None:
    """The registry the options name, else the one [tool.contracts.registry] names,
    else None (not configured). `create`: a store file may be made (push)."""
    if url is not None and store is not None:
        raise UsageError("give a registry --url or a --store, not both")
    if url is None and store is None:
        url, store = settings.url, settings.store
    if store is not None:
        return StoreTarget(store, create)
    if url is None:
        return None
    problem = registry_url_problem(url)
    if problem:
        raise UsageError(f"registry URL {problem}")
    return UrlTarget(RegistryClient(url, credentials(auth_file), timeout))


# One verbose compatibility message, as compat_checks.registry.service.messages writes it:
# `TYPE: #/path: description...; MODE fails (violates MODES) (file:line:column)`.
_MESSAGE = re.compile(
    r"^(?P<rule>[A-Z][A-Z0-9_]*): (?P<message>.*) \((?P<file>[^()]*):(?P<line>\d+):(?P<column>\d+)\)$",
    re.DOTALL,
)
_PATH = re.compile(r"(#/[^\s,:;})]*)")
_VIOLATES = re.compile(r"\(violates ([A-Z_, ]+)\)")
_KNOWN = {t.value for t in DifferenceType}


def parse_message(message: str) -> Finding:
    """A verbose compatibility message back into a finding: its difference type, path,
    position and violated modes. Another registry's wording keeps its text, with the
    first difference type and path it names."""
    match = _MESSAGE.match(message.strip())
    if match:
        rule, text = match["rule"], match["message"]
        file, line, column = match["file"], int(match["line"]), int(match["column"])
    else:
        named = [w for w in re.findall(r"[A-Z][A-Z0-9_]+", message) if w in _KNOWN]
        rule = named[0] if named else UNREAD_DIFFERENCE
        text, file, line, column = message.strip(), "", 0, 0
    path = _PATH.search(text)
    violates = _VIOLATES.search(text)
    wire = rule not in _KNOWN or DifferenceType(rule).breaks_wire
    return Finding(
        file=file,
        line=line,
        column=column,
        rule=rule,
        message=text,
        source="contracts",
        breaks=(Audience.WIRE,) if wire else (Audience.JSON,),
        path=path.group(1) if path else "",
        violates=tuple(m.strip() for m in violates.group(1).split(",")) if violates else (),
    )
