"""Confluent's registry modes: who may write to a subject, or to the whole registry.

READWRITE (the default) takes registrations that the registry numbers itself;
READONLY refuses every write (registration, deletion, a compatibility setting)
with 42205; READONLY_OVERRIDE is Confluent's deprecated spelling of READONLY,
kept because clients may send it; IMPORT takes only registrations that carry
their own id (and optionally version), for migrating from another registry, and
checks no compatibility. A subject's mode wins over the global one. Changing
the mode itself is always allowed (it is how a registry leaves READONLY).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from . import errors
from .store import Store


class AccessMode(StrEnum):
    READWRITE = "READWRITE"
    READONLY = "READONLY"
    READONLY_OVERRIDE = "READONLY_OVERRIDE"
    IMPORT = "IMPORT"

    @property
    def read_only(self) -> bool:
        return self in (AccessMode.READONLY, AccessMode.READONLY_OVERRIDE)


DEFAULT_ACCESS = AccessMode.READWRITE
_MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Explicit:
    """The id and version a registration body names itself (IMPORT), if any."""

    id: int | None
    version: int | None

    @classmethod
    def parse(cls, body: object) -> Explicit:
        if not isinstance(body, Mapping):
            return cls(None, None)
        return cls(_number(body, "id", 0), _number(body, "version", 1))


def _number(body: Mapping[object, object], key: str, least: int) -> int | None:
    """The body's `key`, or None when absent or below `least` (Confluent's clients
    send -1 or 0 for "not given")."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value > _MAX_ID:
        raise errors.invalid_schema(f"'{key}' must be an integer up to 2^31-1, not {value!r}")
    return value if value >= least else None


class Modes:
    """Reading, setting and enforcing modes over a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def in_scope(self, subject: str | None) -> AccessMode:
        level = (subject and self.store.mode(subject)) or self.store.mode(None)
        return AccessMode(level) if level else DEFAULT_ACCESS

    def get(self, subject: str | None, default_to_global: bool) -> AccessMode:
        if subject is not None and not default_to_global:
            level = self.store.mode(subject)
            if level is None:
                raise errors.mode_not_configured(subject)
            return AccessMode(level)
        return self.in_scope(subject)

    def set(self, subject: str | None, body: object, force: bool) -> AccessMode:
        raw = body.get("mode") if isinstance(body, Mapping) else None
        if not isinstance(raw, str):
            raise errors.invalid_mode(raw)
        try:
            mode = AccessMode(raw.upper())
        except ValueError:
            raise errors.invalid_mode(raw) from None
        if mode is AccessMode.IMPORT and self.in_scope(subject) is not AccessMode.IMPORT:
            # Imported ids and versions must not collide with ones this registry
            # numbered itself: only an empty subject (or registry) may import, unless forced.
            live = self.store.versions(subject, False) if subject else self.store.subjects(False)
            if live and not force:
                raise errors.not_permitted("Cannot import since found existing subjects")
        self.store.set_mode(subject, mode.value)
        return mode

    def delete(self, subject: str | None) -> AccessMode:
        """Drop the subject's (or the global) setting; the old one is returned."""
        level = self.store.mode(subject)
        if level is None:
            if subject is not None:
                raise errors.subject_not_found(subject)
            return DEFAULT_ACCESS
        self.store.set_mode(subject, None)
        return AccessMode(level)

    def check_write(self, subject: str | None) -> None:
        """Refuse a write (other than a registration) to a read-only subject or registry."""
        if self.in_scope(subject).read_only:
            raise errors.subject_read_only(subject)

    def check_register(self, subject: str, explicit: Explicit) -> None:
        """Refuse a registration the subject's mode does not take."""
        mode = self.in_scope(subject)
        if mode.read_only:
            raise errors.subject_read_only(subject)
        if explicit.id is not None and mode is not AccessMode.IMPORT:
            raise errors.not_permitted(f"Subject {subject} is not in import mode")
        if explicit.id is None and mode is not AccessMode.READWRITE:
            raise errors.not_permitted(f"Subject {subject} is not in read-write mode")
