"""The shared store: PostgreSQL, for several registry instances behind one address.

Every write is one transaction that first takes transaction-scoped advisory locks,
always in the same order (the subject, then the schema's fingerprint), so instances
never deadlock and each sees the state the previous writer committed:

- the subject lock serialises the read of the subject's versions, the compatibility
  gate and the new version's number, so no version number is handed out twice;
- the fingerprint lock makes two registrations of one new schema (under any
  subjects, on any instance) find one id: the second waits, then reads the first's row;
- ids come from a one-row counter updated inside the transaction, not from a
  sequence: a rolled-back or killed registration gives its id back (no gaps), a
  committed one keeps it forever (hard deletes never lower the counter), and the
  row lock makes the increment atomic across instances.

Needs the optional `postgresql` dependencies (psycopg 3 and psycopg-pool).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from contracts_core.errors import UsageError

from . import errors
from .model import Candidate, Reference, SchemaRecord, SubjectVersion
from .store import Gate, already_registered, check_import, import_place

FORMAT: Final = "1"
# Held while creating the tables, so instances starting at once do not race.
_MIGRATION_LOCK: Final = 0x636F6E7472616374
_CONNECT_TIMEOUT_S: Final = 10  # unless the URL sets connect_timeout
_POOL_SIZE: Final = 10
_POOL_WAIT_S: Final = 30

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registry_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_ids (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    last_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_schemas (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    schema_type TEXT NOT NULL,
    schema TEXT NOT NULL,
    refs JSONB NOT NULL,
    descriptors BYTEA NOT NULL,
    root TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_versions (
    subject TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    schema_id INTEGER NOT NULL REFERENCES registry_schemas(id),
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (subject, version)
);
CREATE INDEX IF NOT EXISTS registry_versions_by_schema ON registry_versions(schema_id);
CREATE TABLE IF NOT EXISTS registry_config (
    subject TEXT PRIMARY KEY,  -- '' is the global setting
    compatibility TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_modes (
    subject TEXT PRIMARY KEY,  -- '' is the global setting
    mode TEXT NOT NULL
);
INSERT INTO registry_ids (only_row, last_id) VALUES (TRUE, 0) ON CONFLICT DO NOTHING;
"""
_SCHEMA_COLUMNS = "s.id, s.fingerprint, s.schema, s.refs, s.descriptors, s.root, s.schema_type"
_VERSION_COLUMNS = f"v.subject, v.version, v.deleted, {_SCHEMA_COLUMNS}"
_VERSIONS_JOIN = "registry_versions v JOIN registry_schemas s ON s.id = v.schema_id"
# Subjects sort by code point, as on SQLite, whatever the database's collation.
_BY_SUBJECT = 'v.subject COLLATE "C"'


def redacted(url: str) -> str:
    """The URL with its password (in the user part or the query) shown as ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, hosts = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{hosts}"
    query = "&".join(
        f"{key}={'***' if key == 'password' else value}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def scrubbed(text: str, url: str) -> str:
    """`text` (a driver's message, which may quote the URL) without the URL's passwords."""
    parts = urlsplit(url)
    secrets = [v for k, v in parse_qsl(parts.query) if k == "password"]
    if parts.password:
        secrets += [parts.password, quote(parts.password, safe="")]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class PostgresStore:
    def __init__(self, url: str) -> None:
        """Connect, create the tables when missing and check their format. Raises
        psycopg.Error (the server's reason) when the database cannot be used, and
        UsageError for tables another version of the registry wrote."""
        self.url = url
        # A connect_timeout in the URL wins over ours.
        timeout = conninfo_to_dict(url).get("connect_timeout", _CONNECT_TIMEOUT_S)
        with psycopg.connect(url, autocommit=True, connect_timeout=timeout) as db:
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                db.execute(_SCHEMA)
                db.execute(
                    "INSERT INTO registry_meta (key, value) VALUES ('format', %s) "
                    "ON CONFLICT DO NOTHING",
                    (FORMAT,),
                )
                row = db.execute("SELECT value FROM registry_meta WHERE key = 'format'").fetchone()
            if row is None or row[0] != FORMAT:
                found = None if row is None else row[0]
                raise UsageError(
                    f"the registry tables in {redacted(url)} have format {found!r}; "
                    f"this version of contracts reads format {FORMAT!r}"
                )
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=_POOL_SIZE,
            timeout=_POOL_WAIT_S,
            kwargs={"autocommit": True, "connect_timeout": timeout},
            # A connection dropped by a database restart is replaced, not handed out.
            check=ConnectionPool.check_connection,
            open=False,
        )
        self._pool.open(wait=True, timeout=_POOL_WAIT_S)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as db:
                yield db
        except (psycopg.Error, PoolTimeout) as exc:
            raise errors.store_error(str(exc).strip()) from exc

    @contextmanager
    def _write(self, subject: str) -> Iterator[psycopg.Connection[Any]]:
        with self._connection() as db, db.transaction():
            _lock(db, "subject", subject)
            yield db

    def subjects(self, deleted: bool) -> list[str]:
        sql = "SELECT v.subject FROM registry_versions v"
        if not deleted:
            sql += " WHERE NOT v.deleted"
        with self._connection() as db:
            rows = db.execute(f"{sql} GROUP BY v.subject ORDER BY {_BY_SUBJECT}")
            return [row[0] for row in rows]

    def versions(self, subject: str, deleted: bool) -> list[SubjectVersion]:
        with self._connection() as db:
            return _versions(db, subject, deleted)

    def schema_by_id(self, schema_id: int) -> SchemaRecord | None:
        with self._connection() as db:
            return _schema_by_id(db, schema_id)

    def uses_of(self, schema_id: int, deleted: bool) -> list[SubjectVersion]:
        sql = f"SELECT {_VERSION_COLUMNS} FROM {_VERSIONS_JOIN} WHERE v.schema_id = %s"
        if not deleted:
            sql += " AND NOT v.deleted"
        with self._connection() as db:
            rows = db.execute(f"{sql} ORDER BY {_BY_SUBJECT}, v.version", (schema_id,))
            return [_subject_version(row) for row in rows]

    def referenced_by(self, subject: str, version: int) -> list[int]:
        with self._connection() as db:
            rows = db.execute(
                "SELECT DISTINCT s.id FROM registry_schemas s, jsonb_array_elements(s.refs) r "
                "WHERE r->>'subject' = %s AND (r->>'version')::bigint = %s "
                "AND EXISTS (SELECT 1 FROM registry_versions v WHERE v.schema_id = s.id) "
                "ORDER BY s.id",
                (subject, version),
            )
            return [int(row[0]) for row in rows]

    def register(self, subject: str, candidate: Candidate, gate: Gate) -> SubjectVersion:
        with self._write(subject) as db:
            live = _versions(db, subject, deleted=False)
            found = already_registered(live, candidate)
            if found is not None:
                return found
            gate(live)
            _lock(db, "schema", candidate.fingerprint)
            row = db.execute(
                "SELECT id FROM registry_schemas WHERE fingerprint = %s", (candidate.fingerprint,)
            ).fetchone()
            if row is None:
                allocated = db.execute(
                    "UPDATE registry_ids SET last_id = last_id + 1 RETURNING last_id"
                ).fetchone()
                assert allocated is not None  # the row is created with the tables
                schema_id = int(allocated[0])
                _insert_schema(db, schema_id, candidate)
            else:
                schema_id = int(row[0])
            numbered = db.execute(
                "INSERT INTO registry_versions (subject, version, schema_id) "
                "SELECT %s, COALESCE(MAX(version), 0) + 1, %s FROM registry_versions "
                "WHERE subject = %s RETURNING version",
                (subject, schema_id, subject),
            ).fetchone()
            assert numbered is not None
            record = _schema_by_id(db, schema_id)
            assert record is not None
        return SubjectVersion(subject, int(numbered[0]), record)

    def import_version(
        self, subject: str, candidate: Candidate, schema_id: int, version: int | None
    ) -> SubjectVersion:
        with self._write(subject) as db:
            _lock(db, "schema", candidate.fingerprint)
            _lock(db, "id", str(schema_id))
            # Taken first, as a registration takes it: the counter's row lock orders
            # this import after any registration that is handing out an id now.
            db.execute("UPDATE registry_ids SET last_id = GREATEST(last_id, %s)", (schema_id,))
            by_fingerprint = db.execute(
                "SELECT id FROM registry_schemas WHERE fingerprint = %s", (candidate.fingerprint,)
            ).fetchone()
            by_id = db.execute(
                "SELECT fingerprint FROM registry_schemas WHERE id = %s", (schema_id,)
            ).fetchone()
            check_import(
                schema_id,
                candidate.fingerprint,
                None if by_fingerprint is None else int(by_fingerprint[0]),
                None if by_id is None else str(by_id[0]),
            )
            number = import_place(subject, _versions(db, subject, deleted=True), schema_id, version)
            if isinstance(number, SubjectVersion):
                return number
            if by_id is None:
                _insert_schema(db, schema_id, candidate)
            db.execute(
                "INSERT INTO registry_versions (subject, version, schema_id) VALUES (%s, %s, %s)",
                (subject, number, schema_id),
            )
            record = _schema_by_id(db, schema_id)
            assert record is not None
        return SubjectVersion(subject, number, record)

    def soft_delete(self, subject: str, versions: Sequence[int]) -> None:
        with self._write(subject) as db:
            db.execute(
                "UPDATE registry_versions SET deleted = TRUE "
                "WHERE subject = %s AND version = ANY(%s)",
                (subject, list(versions)),
            )

    def hard_delete(self, subject: str, versions: Sequence[int]) -> None:
        # The schemas row stays, and the counter never goes down: the id stays taken.
        with self._write(subject) as db:
            db.execute(
                "DELETE FROM registry_versions WHERE subject = %s AND version = ANY(%s)",
                (subject, list(versions)),
            )

    def compatibility(self, subject: str | None) -> str | None:
        with self._connection() as db:
            row = db.execute(
                "SELECT compatibility FROM registry_config WHERE subject = %s", (subject or "",)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_compatibility(self, subject: str | None, level: str | None) -> None:
        self._set("registry_config", "compatibility", subject, level)

    def mode(self, subject: str | None) -> str | None:
        with self._connection() as db:
            row = db.execute(
                "SELECT mode FROM registry_modes WHERE subject = %s", (subject or "",)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_mode(self, subject: str | None, mode: str | None) -> None:
        self._set("registry_modes", "mode", subject, mode)

    def _set(self, table: str, column: str, subject: str | None, value: str | None) -> None:
        """Upsert (or, for None, delete) one setting; '' keys the global one. The
        names are this module's constants, never input."""
        with self._connection() as db:
            if value is None:
                db.execute(f"DELETE FROM {table} WHERE subject = %s", (subject or "",))
                return
            db.execute(
                f"INSERT INTO {table} (subject, {column}) VALUES (%s, %s) "
                f"ON CONFLICT (subject) DO UPDATE SET {column} = excluded.{column}",
                (subject or "", value),
            )


def _lock(db: psycopg.Connection[Any], kind: str, name: str) -> None:
    """A transaction-scoped advisory lock on (kind, name); every instance derives
    the same 64-bit key."""
    digest = hashlib.sha256(f"{kind}\0{name}".encode()).digest()
    db.execute("SELECT pg_advisory_xact_lock(%s)", (int.from_bytes(digest[:8], signed=True),))


def _versions(db: psycopg.Connection[Any], subject: str, deleted: bool) -> list[SubjectVersion]:
    sql = f"SELECT {_VERSION_COLUMNS} FROM {_VERSIONS_JOIN} WHERE v.subject = %s"
    if not deleted:
        sql += " AND NOT v.deleted"
    return [_subject_version(row) for row in db.execute(sql + " ORDER BY v.version", (subject,))]


def _insert_schema(db: psycopg.Connection[Any], schema_id: int, candidate: Candidate) -> None:
    db.execute(
        "INSERT INTO registry_schemas "
        "(id, fingerprint, schema_type, schema, refs, descriptors, root) "
        "VALUES (%s, %s, 'PROTOBUF', %s, %s::jsonb, %s, %s)",
        (
            schema_id,
            candidate.fingerprint,
            candidate.schema,
            _refs_json(candidate.references),
            candidate.descriptors,
            candidate.root,
        ),
    )


def _refs_json(references: tuple[Reference, ...]) -> str:
    return json.dumps([r.to_json() for r in references], sort_keys=True)


def _schema_by_id(db: psycopg.Connection[Any], schema_id: int) -> SchemaRecord | None:
    row = db.execute(
        f"SELECT {_SCHEMA_COLUMNS} FROM registry_schemas s WHERE s.id = %s", (schema_id,)
    ).fetchone()
    return None if row is None else _schema(row)


def _schema(row: Sequence[Any]) -> SchemaRecord:
    schema_id, fingerprint, schema, refs, descriptors, root, schema_type = row
    return SchemaRecord(
        id=int(schema_id),
        schema=str(schema),
        references=tuple(
            Reference(str(r["name"]), str(r["subject"]), int(r["version"])) for r in refs
        ),
        descriptors=bytes(descriptors),
        root=str(root),
        fingerprint=str(fingerprint),
        schema_type=str(schema_type),
    )


def _subject_version(row: Sequence[Any]) -> SubjectVersion:
    subject, version, deleted = row[:3]
    return SubjectVersion(
        subject=str(subject), version=int(version), schema=_schema(row[3:]), deleted=bool(deleted)
    )
