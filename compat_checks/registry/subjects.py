"""Which subjects a workspace's contracts are registered under, in which order, with
which references: the subject naming strategies of `contracts registry push`.

- `file` (the default): each file under its import path,
  `fleet/tasks/v1/envelope.proto`.
- `record`: each top-level message under its full name,
  `fleet.tasks.v1.TaskEnvelope`, as Confluent's RecordNameStrategy names the
  subject a producer of that message registers its file under.

Either way an import is a reference named by its import path, under the subject
of the same name (Confluent's default reference subject naming, which its
serializers use when they register a file's imports), so every imported file is
also registered under its import path. Well-known types need no reference: the
registry compiles with its own copies. Imports come before the files importing
them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

from contracts_core.errors import UsageError
from contracts_core.image import Image
from contracts_core.settings import SUBJECT_STRATEGIES

from .compiler import WELL_KNOWN_PREFIX
from .model import PROTOBUF

FILE, RECORD = SUBJECT_STRATEGIES  # as [tool.contracts.registry] subject_strategy spells them


@dataclass(frozen=True)
class Entry:
    """One file registered under one subject."""

    subject: str
    file: str  # module-relative name, as imports spell it
    path: str  # workspace-relative path (a dependency's own name when not in the workspace)
    imports: tuple[str, ...]  # files it references, by import path


def reference_subject(name: str) -> str:
    """The subject an import is registered and referenced under."""
    return name


def is_well_known(name: str) -> bool:
    return name.startswith(WELL_KNOWN_PREFIX)


def plan(image: Image, strategy: str) -> list[Entry]:
    """Every subject to register, imports first (the image lists files that way)."""
    if strategy not in SUBJECT_STRATEGIES:
        raise UsageError(f"unknown subject strategy {strategy!r}; use {FILE} or {RECORD}")
    files = image.files
    needed: set[str] = set()
    pending = [name for name in image.targets if name in files]
    while pending:
        name = pending.pop()
        if name in needed or is_well_known(name):
            continue
        needed.add(name)
        pending.extend(files[name].dependency)
    imported = {d for name in needed for d in files[name].dependency if d in needed}
    entries: list[Entry] = []
    for proto in image.descriptor_set.file:
        if proto.name not in needed:
            continue
        imports = tuple(d for d in proto.dependency if d in needed)
        subjects = _subjects(proto, strategy, imported)
        path = image.workspace_path(proto.name)
        entries.extend(Entry(s, proto.name, path, imports) for s in subjects)
    return entries


def _subjects(
    proto: descriptor_pb2.FileDescriptorProto, strategy: str, imported: set[str]
) -> list[str]:
    if strategy == FILE:
        return [reference_subject(proto.name)]
    prefix = f"{proto.package}." if proto.package else ""
    records = [prefix + m.name for m in proto.message_type]
    if proto.name in imported or not records:
        return [reference_subject(proto.name), *records]
    return records


def schema_body(image: Image, root: Path, entry: Entry, versions: dict[str, int]) -> dict[str, Any]:
    """The register/lookup/compatibility request for an entry: the workspace file's
    own text (what users read back from the registry, with its line numbers), or a
    base64 FileDescriptorProto for a dependency from outside the workspace; each
    import as a reference to `versions[its subject]`."""
    if entry.file in image.targets:
        schema = (root / entry.path).read_text(encoding="utf-8")
    else:
        proto = descriptor_pb2.FileDescriptorProto()
        proto.CopyFrom(image.files[entry.file])
        proto.ClearField("source_code_info")
        schema = base64.b64encode(proto.SerializeToString(deterministic=True)).decode("ascii")
    body: dict[str, Any] = {"schemaType": PROTOBUF, "schema": schema}
    if entry.imports:
        body["references"] = [
            {
                "name": name,
                "subject": reference_subject(name),
                "version": versions[reference_subject(name)],
            }
            for name in entry.imports
        ]
    return body
