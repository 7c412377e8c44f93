"""What the registry needs of a store. Every write is one transaction: a schema's id
and a subject's next version are allocated together with the rows that use them,
so two registrations of one new schema get one id and no id is ever reused."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from . import errors
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

    def import_version(
        self, subject: str, candidate: Candidate, schema_id: int, version: int | None
    ) -> SubjectVersion:
        """Register under the id (and version; None: the subject's next) the caller
        names, with no compatibility gate (IMPORT mode). Repeating an import is
        answered with the version it made; an id, fingerprint or version already
        taken by something else is refused (check_import). The id counter moves
        past `schema_id`, so later registrations never reuse it."""
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

    def set_compatibility(self, subject: str | None, level: str | None) -> None:
        """Set (None: remove) the subject's or the global level."""
        ...

    def mode(self, subject: str | None) -> str | None:
        """The configured mode of a subject, or the global one (None: not set)."""
        ...

    def set_mode(self, subject: str | None, mode: str | None) -> None:
        """Set (None: remove) the subject's or the global mode."""
        ...

    def close(self) -> None: ...


def check_import(
    schema_id: int,
    fingerprint: str,
    id_of_fingerprint: int | None,
    fingerprint_of_id: str | None,
) -> None:
    """Refuse an import whose schema already has another id, or whose id already
    holds another schema (Confluent's 42207 and 42205)."""
    if id_of_fingerprint is not None and id_of_fingerprint != schema_id:
        raise errors.id_does_not_match(id_of_fingerprint, schema_id)
    if fingerprint_of_id is not None and fingerprint_of_id != fingerprint:
        raise errors.not_permitted(f"Overwrite new schema with id {schema_id} is not permitted.")


def already_registered(
    live: Sequence[SubjectVersion], candidate: Candidate
) -> SubjectVersion | None:
    """The subject's live version holding this schema, if any: registering it again
    answers that version."""
    for existing in live:
        if existing.schema.fingerprint == candidate.fingerprint:
            return existing
    return None


def import_place(
    subject: str, every: Sequence[SubjectVersion], schema_id: int, version: int | None
) -> SubjectVersion | int:
    """Where an import of `schema_id` lands among the subject's versions (soft-deleted
    included): the version that already holds it (nothing to write), else the number
    to write (`version`, or the next one). A `version` holding another schema is
    refused."""
    for existing in every:
        same = existing.schema.id == schema_id
        if version is None and same and not existing.deleted:
            return existing
        if existing.version == version:
            if same:
                return existing
            raise version_taken(subject, version)
    return version if version is not None else 1 + max((v.version for v in every), default=0)


def version_taken(subject: str, version: int) -> errors.RegistryError:
    # Confluent overwrites the version in this case; we refuse rather than
    # silently replace a schema that consumers may already have read.
    return errors.not_permitted(
        f"Version {version} of subject '{subject}' already exists with another schema"
    )
