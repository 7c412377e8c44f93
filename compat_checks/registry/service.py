"""The registry's rules over a store, free of HTTP: what each API call does and which
Confluent error it raises."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from google.protobuf import descriptor_pb2

from compat_checks.compat import Mode, Schema, check
from contracts_core.errors import UsageError
from contracts_core.findings import Finding

from . import errors
from .compiler import compile_schema, decode_serialized, files_of
from .model import PROTOBUF, Candidate, Reference, SchemaRecord, SubjectVersion
from .modes import Explicit, Modes
from .proto_text import UnrenderableSchema, comparable, render
from .store import Store

DEFAULT_MODE = Mode.BACKWARD
_MAX_VERSION = 2**31 - 1


@dataclass(frozen=True)
class SchemaRequest:
    """The body of a register, lookup or compatibility request."""

    schema: str
    references: tuple[Reference, ...]

    @classmethod
    def parse(cls, body: object) -> SchemaRequest:
        if not isinstance(body, Mapping):
            raise errors.bad_request("The request body must be a JSON object")
        schema_type = body.get("schemaType", "AVRO")
        if schema_type != PROTOBUF:
            raise errors.invalid_schema(
                f"schemaType {schema_type!r} is not supported; this registry holds PROTOBUF schemas"
            )
        schema = body.get("schema")
        if not isinstance(schema, str) or not schema.strip():
            raise errors.invalid_schema("the request has no 'schema' string")
        raw_refs = body.get("references") or []
        if not isinstance(raw_refs, list):
            raise errors.invalid_schema("'references' must be a list")
        refs = []
        for i, ref in enumerate(raw_refs):
            if not isinstance(ref, Mapping):
                raise errors.invalid_schema(f"references[{i}] must be an object")
            name, subject, version = ref.get("name"), ref.get("subject"), ref.get("version")
            if not isinstance(name, str) or not isinstance(subject, str) or not name or not subject:
                raise errors.invalid_schema(f"references[{i}] needs a 'name' and a 'subject'")
            if not isinstance(version, int) or isinstance(version, bool):
                raise errors.invalid_schema(f"references[{i}] needs an integer 'version'")
            refs.append(Reference(name, subject, version))
        return cls(schema, tuple(refs))


def fingerprint(
    root: descriptor_pb2.FileDescriptorProto,
    dependencies: Sequence[descriptor_pb2.FileDescriptorProto],
    references: Sequence[Reference],
) -> str:
    """One schema, one key, however it arrived (.proto text in any layout or a base64
    descriptor): what the compiled root says as text, and its references, as
    Confluent's registry keys a schema by its canonical text."""
    said = comparable(root, dependencies).SerializeToString(deterministic=True)
    refs = [r.to_json() for r in references]
    key = json.dumps({"schema": said.hex(), "references": refs}, sort_keys=True)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_version(text: str) -> int | None:
    """A version as the API spells it: a number, or `latest`/`-1` (None)."""
    if text in ("latest", "-1"):
        return None
    if not text.isdigit() or not 1 <= int(text) <= _MAX_VERSION:
        raise errors.invalid_version(text)
    return int(text)


def serialized(record: SchemaRecord) -> str:
    """The schema's root as a base64 FileDescriptorProto (`format=serialized`)."""
    for file in files_of(record.descriptors):
        if file.name == record.root:
            file.ClearField("source_code_info")
            return base64.b64encode(file.SerializeToString()).decode("ascii")
    raise errors.schema_not_found(f"Schema {record.id} has no root file {record.root}")


def messages(findings: Sequence[Finding]) -> list[str]:
    """One line per difference, as the verbose compatibility answer lists them."""
    return [f"{f.rule}: {f.message} ({f.file}:{f.line}:{f.column})" for f in findings]


class Registry:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.modes = Modes(store)

    # Reading.
    def subjects(self, deleted: bool) -> list[str]:
        return self.store.subjects(deleted)

    def versions(self, subject: str, deleted: bool) -> list[SubjectVersion]:
        found = self.store.versions(subject, deleted)
        if not found:
            raise errors.subject_not_found(subject)
        return found

    def version(self, subject: str, version_text: str, deleted: bool) -> SubjectVersion:
        number = parse_version(version_text)
        found = self.versions(subject, deleted)
        if number is None:
            return found[-1]
        for v in found:
            if v.version == number:
                return v
        raise errors.version_not_found(subject, number)

    def schema(self, schema_id: int) -> SchemaRecord:
        record = self.store.schema_by_id(schema_id)
        if record is None or not self.store.uses_of(schema_id, deleted=True):
            raise errors.schema_not_found(f"Schema {schema_id} not found")
        return record

    def uses(self, schema_id: int, deleted: bool) -> list[SubjectVersion]:
        self.schema(schema_id)
        return self.store.uses_of(schema_id, deleted)

    def referenced_by(self, subject: str, version_text: str) -> list[int]:
        target = self.version(subject, version_text, deleted=True)
        return self.store.referenced_by(subject, target.version)

    # Registering.
    def schemas(self, prefix: str, deleted: bool, latest_only: bool) -> list[SubjectVersion]:
        """Every version of every subject whose name starts with `prefix`, or only
        each subject's latest (`GET /schemas`)."""
        found: list[SubjectVersion] = []
        for subject in self.store.subjects(deleted):
            if subject.startswith(prefix):
                versions = self.store.versions(subject, deleted)
                found.extend(versions[-1:] if latest_only else versions)
        return found

    def register(self, subject: str, body: object) -> SubjectVersion:
        request = SchemaRequest.parse(body)
        explicit = Explicit.parse(body)
        self.modes.check_register(subject, explicit)
        if explicit.id is not None:  # IMPORT: the caller's numbering, no compatibility gate
            candidate, _ = self._compile(request)
            return self.store.import_version(subject, candidate, explicit.id, explicit.version)
        if explicit.version is not None:
            numbers = [v.version for v in self.store.versions(subject, deleted=True)]
            if explicit.version != 1 + max(numbers, default=0):
                raise errors.invalid_schema("Version is not one more than previous version")
        candidate, new = self._compile(request)
        mode = self.mode(subject)

        def gate(live: Sequence[SubjectVersion]) -> None:
            findings = check(new, [_schema(v) for v in live], mode)
            if findings:
                raise errors.incompatible(messages(findings))

        return self.store.register(subject, candidate, gate)

    def lookup(self, subject: str, body: object, deleted: bool) -> SubjectVersion:
        request = SchemaRequest.parse(body)
        found = self.versions(subject, deleted)
        dependencies = self._dependencies(request)
        text, _ = _as_text(request.schema, dependencies)
        for v in found:  # the registered text itself: no compile needed
            if v.schema.schema == text and v.schema.references == request.references:
                return v
        candidate, _ = self._compile(request, dependencies)
        for v in found:
            if v.schema.fingerprint == candidate.fingerprint:
                return v
        raise errors.schema_not_found(f"Schema not found under subject '{subject}'")

    def check_compatibility(
        self, subject: str, version_text: str | None, body: object
    ) -> list[Finding]:
        """Findings of the schema against one version, or (no version) against the
        subject's versions as its mode picks them."""
        request = SchemaRequest.parse(body)
        mode = self.mode(subject)
        if version_text is None:
            previous = self.store.versions(subject, deleted=False)
        else:
            previous = [self.version(subject, version_text, deleted=False)]
        _, new = self._compile(request)
        return check(new, [_schema(v) for v in previous], mode)

    def _compile(
        self,
        request: SchemaRequest,
        dependencies: list[descriptor_pb2.FileDescriptorProto] | None = None,
    ) -> tuple[Candidate, Schema]:
        """The schema compiled from its .proto text; a base64 descriptor is first
        written as text, which is what the registry then holds and answers."""
        deps = self._dependencies(request) if dependencies is None else dependencies
        text, name = _as_text(request.schema, deps)
        root, compiled = compile_schema(text, deps, name)
        by_name = {f.name: f for f in compiled.file}
        imported = [f for f in compiled.file if f.name != root]
        candidate = Candidate(
            schema=text,
            references=request.references,
            descriptors=compiled.SerializeToString(),
            root=root,
            fingerprint=fingerprint(by_name[root], imported, request.references),
        )
        return candidate, Schema.from_files(compiled.file, root, label="the new schema")

    def _dependencies(self, request: SchemaRequest) -> list[descriptor_pb2.FileDescriptorProto]:
        """The compiled files the request's references stand for, each root under the
        name the schema imports it by."""
        dependencies: dict[str, descriptor_pb2.FileDescriptorProto] = {}
        for ref in request.references:
            try:
                target = self.version(ref.subject, str(ref.version), deleted=False)
            except errors.RegistryError:
                raise errors.invalid_schema(
                    f"reference {ref.name!r}: subject '{ref.subject}' has no version {ref.version}"
                ) from None
            for file in files_of(target.schema.descriptors):
                if file.name == target.schema.root:
                    file.name = ref.name  # what the importing schema calls it
                dependencies.setdefault(file.name, file)
        return list(dependencies.values())

    # Deleting.
    def delete_version(self, subject: str, version_text: str, permanent: bool) -> int:
        self.modes.check_write(subject)
        target = self.version(subject, version_text, deleted=True)
        self._refuse_if_referenced(subject, [target.version])
        if permanent:
            if not target.deleted:
                raise errors.not_soft_deleted_first(subject, target.version)
            self.store.hard_delete(subject, [target.version])
        else:
            if target.deleted:
                raise errors.version_soft_deleted(subject, target.version)
            self.store.soft_delete(subject, [target.version])
        return target.version

    def delete_subject(self, subject: str, permanent: bool) -> list[int]:
        self.modes.check_write(subject)
        every = self.versions(subject, deleted=True)
        live = [v.version for v in every if not v.deleted]
        self._refuse_if_referenced(subject, [v.version for v in every])
        if permanent:
            if live:
                raise errors.not_soft_deleted_first(subject)
            numbers = [v.version for v in every]
            self.store.hard_delete(subject, numbers)
            return numbers
        if not live:
            raise errors.subject_soft_deleted(subject)
        self.store.soft_delete(subject, live)
        return live

    def _refuse_if_referenced(self, subject: str, versions: Sequence[int]) -> None:
        for version in versions:
            ids = self.store.referenced_by(subject, version)
            if ids:
                raise errors.still_referenced(subject, version, ids)

    # Configuration.
    def mode(self, subject: str | None) -> Mode:
        level = (subject and self.store.compatibility(subject)) or self.store.compatibility(None)
        return Mode(level) if level else DEFAULT_MODE

    def config(self, subject: str | None, default_to_global: bool) -> Mode:
        if subject is not None and not default_to_global:
            level = self.store.compatibility(subject)
            if level is None:
                raise errors.compatibility_not_configured(subject)
            return Mode(level)
        return self.mode(subject)

    def set_config(self, subject: str | None, body: object) -> Mode:
        if not isinstance(body, Mapping) or "compatibility" not in body:
            raise errors.invalid_compatibility(None)
        level = body["compatibility"]
        if not isinstance(level, str):
            raise errors.invalid_compatibility(level)
        try:
            mode = Mode.parse(level)
        except UsageError:
            raise errors.invalid_compatibility(level) from None
        self.modes.check_write(subject)
        self.store.set_compatibility(subject, mode.value)
        return mode

    def delete_config(self, subject: str | None) -> Mode:
        """Drop the subject's level (it follows the global one again), or the global
        level (back to the default); the level it had is returned."""
        self.modes.check_write(subject)
        level = self.store.compatibility(subject)
        if level is None and subject is not None:
            raise errors.subject_not_found(subject)
        self.store.set_compatibility(subject, None)
        return Mode(level) if level else DEFAULT_MODE


def _as_text(
    schema: str, dependencies: Sequence[descriptor_pb2.FileDescriptorProto]
) -> tuple[str, str | None]:
    """The schema as .proto text (a base64 FileDescriptorProto rendered, text as is),
    and the file name the descriptor carries."""
    file = decode_serialized(schema)
    if file is None:
        return schema, None
    try:
        return render(file, dependencies), file.name
    except UnrenderableSchema as exc:
        raise errors.invalid_schema(
            f"the descriptor {file.name} cannot be written as .proto text: {exc}"
        ) from None


def _schema(version: SubjectVersion) -> Schema:
    record = version.schema
    return Schema.from_files(
        files_of(record.descriptors), record.root, label=f"version {version.version}"
    )
