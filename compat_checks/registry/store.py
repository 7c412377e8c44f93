"""What the registry needs of a store. Every write is one transaction: a schema's id
and a subject's next version are allocated together with the rows that use them,
so two registrations of one new schema get one id and no id is ever reused."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from .model import Candidate, SchemaRecord, SubjectVersion

# Called inside the registration's transaction with the subject's live versions
# (oldest first); raises to refuse the schema (an incompatibility).
Gate = Callable[[Sequence[SubjectVersion]], None]


class Store(Protocol):
    def subjects(self, deleted: bool) -> list[str]: ...

    def versions(self, subject: str, deleted: bool) -> list[SubjectVersion]:
        """The subject's versions, oldest first; soft-deleted ones only if `deleted`."""
        ...

    def schema_by_id(self, schema_id: int) -> SchemaRecord | None: ...

    def uses_of(self, schema_id: int, deleted: bool) -> list[SubjectVersion]:
        """Every subject version that registered this id."""
        ...

    def referenced_by(self, subject: str, version: int) -> list[int]:
        """Ids of schemas, still registered somewhere (soft-deleted included), whose
        references name this subject version."""
        ...

    def register(self, subject: str, candidate: Candidate, gate: Gate) -> SubjectVersion:
        """The subject's live version of this schema if it has one; else, when `gate`
        passes, a new version (with the schema's existing id, or a new one)."""
        ...

    def soft_delete(self, subject: str, versions: Sequence[int]) -> None:
        """Mark the versions deleted, all or none."""
        ...

    def hard_delete(self, subject: str, versions: Sequence[int]) -> None:
        """Remove the versions, all or none; their schemas' ids stay taken."""
        ...

    def compatibility(self, subject: str | None) -> str | None:
        """The configured level of a subject, or the global one (None: not set)."""
        ...

    def set_compatibility(self, subject: str | None, level: str) -> None: ...

    def close(self) -> None: ...
