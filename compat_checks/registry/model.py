"""The registry's records: schemas by global id, and subjects' versions of them."""

from __future__ import annotations

from dataclasses import dataclass

PROTOBUF = "PROTOBUF"


@dataclass(frozen=True)
class Reference:
    """An import of the schema (`name`, as the import statement spells it), satisfied
    by a registered version of another subject."""

    name: str
    subject: str
    version: int

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "subject": self.subject, "version": self.version}


@dataclass(frozen=True)
class SchemaRecord:
    """A registered schema, one per global id.

    `schema` is the .proto text as registered (a base64 FileDescriptorProto is
    registered as its rendered text); `descriptors` the compiled FileDescriptorSet (the root
    file `root` and every file it imports), so comparisons never recompile."""

    id: int
    schema: str
    references: tuple[Reference, ...]
    descriptors: bytes
    root: str
    fingerprint: str
    schema_type: str = PROTOBUF


@dataclass(frozen=True)
class SubjectVersion:
    subject: str
    version: int
    schema: SchemaRecord
    deleted: bool = False


@dataclass(frozen=True)
class Candidate:
    """A schema about to be registered: compiled, fingerprinted, not yet given an id."""

    schema: str
    references: tuple[Reference, ...]
    descriptors: bytes
    root: str
    fingerprint: str
