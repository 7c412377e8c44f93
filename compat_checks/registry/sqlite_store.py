"""The embedded store: one SQLite file in WAL mode.

Registrations take the write lock first (BEGIN IMMEDIATE), so the read of the
subject's versions, the compatibility gate and the inserts see one state; two
processes or threads registering the same new schema serialise and the second
finds the first's id. `AUTOINCREMENT` keeps ids rising past deleted rows, so an
id is never handed out twice; a transaction killed half way leaves nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import errors
from .model import Candidate, Reference, SchemaRecord, SubjectVersion
from .store import Gate, already_registered, check_import, import_place

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schemas (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
    schema_type TEXT NOT NULL,
    schema TEXT NOT NULL,
    refs TEXT NOT NULL,
    descriptors BLOB NOT NULL,
    root TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    subject TEXT NOT NULL,
    version INTEGER NOT NULL,
    schema_id INTEGER NOT NULL REFERENCES schemas(id),
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (subject, version)
);
CREATE INDEX IF NOT EXISTS versions_by_schema ON versions(schema_id);
CREATE TABLE IF NOT EXISTS config (
    subject TEXT PRIMARY KEY,  -- '' is the global setting
    compatibility TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS modes (
    subject TEXT PRIMARY KEY,  -- '' is the global setting
    mode TEXT NOT NULL
);
"""
_BUSY_TIMEOUT_MS = 30_000
_VERSION_COLUMNS = (
    "v.subject, v.version, v.deleted, s.id, s.fingerprint, s.schema, s.refs, "
    "s.descriptors, s.root, s.schema_type"
)


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        db = self._connect()
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # One connection per thread: sqlite3 connections must not cross threads.
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
            db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            # FULL: a registration answered to a client survives a crash of the machine too.
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection; SQLite's failures (a lock held past the busy
        timeout, a full disk) become Confluent's store error."""
        try:
            yield self._connect()
        except sqlite3.Error as exc:
            raise errors.store_error(str(exc)) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def subjects(self, deleted: bool) -> list[str]:
        sql = "SELECT DISTINCT subject FROM versions"
        if not deleted:
            sql += " WHERE deleted = 0"
        with self._connection() as db:
            return [row[0] for row in db.execute(sql + " ORDER BY subject")]

    def versions(self, subject: str, deleted: bool) -> list[SubjectVersion]:
        with self._connection() as db:
            return self._versions(db, subject, deleted)

    def _versions(
        self, db: sqlite3.Connection, subject: str, deleted: bool
    ) -> list[SubjectVersion]:
        sql = (
            f"SELECT {_VERSION_COLUMNS} FROM versions v JOIN schemas s ON s.id = v.schema_id "
            "WHERE v.subject = ?"
        )
        if not deleted:
            sql += " AND v.deleted = 0"
        return [
            _subject_version(row) for row in db.execute(sql + " ORDER BY v.version", (subject,))
        ]

    def schema_by_id(self, schema_id: int) -> SchemaRecord | None:
        with self._connection() as db:
            return _schema_by_id(db, schema_id)

    def uses_of(self, schema_id: int, deleted: bool) -> list[SubjectVersion]:
        sql = (
            f"SELECT {_VERSION_COLUMNS} FROM versions v JOIN schemas s ON s.id = v.schema_id "
            "WHERE v.schema_id = ?"
        )
        if not deleted:
            sql += " AND v.deleted = 0"
        with self._connection() as db:
            rows = db.execute(sql + " ORDER BY v.subject, v.version", (schema_id,))
            return [_subject_version(row) for row in rows]

    def referenced_by(self, subject: str, version: int) -> list[int]:
        with self._connection() as db:
            rows = db.execute(
                "SELECT DISTINCT s.id FROM schemas s, json_each(s.refs) r "
                "WHERE json_extract(r.value, '$.subject') = ? "
                "AND json_extract(r.value, '$.version') = ? "
                "AND EXISTS (SELECT 1 FROM versions v WHERE v.schema_id = s.id) ORDER BY s.id",
                (subject, version),
            )
            return [int(row[0]) for row in rows]

    def register(self, subject: str, candidate: Candidate, gate: Gate) -> SubjectVersion:
        with self._write() as db:
            live = self._versions(db, subject, deleted=False)
            found = already_registered(live, candidate)
            if found is not None:
                return found
            gate(live)
            row = db.execute(
                "SELECT id FROM schemas WHERE fingerprint = ?", (candidate.fingerprint,)
            ).fetchone()
            schema_id = _insert_schema(db, None, candidate) if row is None else int(row[0])
            (last,) = db.execute(
                "SELECT COALESCE(MAX(version), 0) FROM versions WHERE subject = ?", (subject,)
            ).fetchone()
            version = int(last) + 1
            db.execute(
                "INSERT INTO versions (subject, version, schema_id) VALUES (?, ?, ?)",
                (subject, version, schema_id),
            )
            record = _schema_by_id(db, schema_id)
            assert record is not None
        return SubjectVersion(subject, version, record)

    def import_version(
        self, subject: str, candidate: Candidate, schema_id: int, version: int | None
    ) -> SubjectVersion:
        with self._write() as db:
            by_fingerprint = db.execute(
                "SELECT id FROM schemas WHERE fingerprint = ?", (candidate.fingerprint,)
            ).fetchone()
            by_id = db.execute(
                "SELECT fingerprint FROM schemas WHERE id = ?", (schema_id,)
            ).fetchone()
            check_import(
                schema_id,
                candidate.fingerprint,
                None if by_fingerprint is None else int(by_fingerprint[0]),
                None if by_id is None else str(by_id[0]),
            )
            number = import_place(
                subject, self._versions(db, subject, deleted=True), schema_id, version
            )
            if isinstance(number, SubjectVersion):
                return number
            if by_id is None:
                _insert_schema(db, schema_id, candidate)
            db.execute(
                "INSERT INTO versions (subject, version, schema_id) VALUES (?, ?, ?)",
                (subject, number, schema_id),
            )
            record = _schema_by_id(db, schema_id)
            assert record is not None
        return SubjectVersion(subject, number, record)

    def soft_delete(self, subject: str, versions: Sequence[int]) -> None:
        with self._write() as db:
            db.executemany(
                "UPDATE versions SET deleted = 1 WHERE subject = ? AND version = ?",
                [(subject, v) for v in versions],
            )

    def hard_delete(self, subject: str, versions: Sequence[int]) -> None:
        # The schemas row stays: its id stays taken (and AUTOINCREMENT would not
        # hand it out again anyway).
        with self._write() as db:
            db.executemany(
                "DELETE FROM versions WHERE subject = ? AND version = ?",
                [(subject, v) for v in versions],
            )

    def compatibility(self, subject: str | None) -> str | None:
        with self._connection() as db:
            row = db.execute(
                "SELECT compatibility FROM config WHERE subject = ?", (subject or "",)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_compatibility(self, subject: str | None, level: str | None) -> None:
        self._set("config", "compatibility", subject, level)

    def mode(self, subject: str | None) -> str | None:
        with self._connection() as db:
            row = db.execute(
                "SELECT mode FROM modes WHERE subject = ?", (subject or "",)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_mode(self, subject: str | None, mode: str | None) -> None:
        self._set("modes", "mode", subject, mode)

    def _set(self, table: str, column: str, subject: str | None, value: str | None) -> None:
        """Upsert (or, for None, delete) one setting; '' keys the global one."""
        with self._write() as db:
            if value is None:
                db.execute(f"DELETE FROM {table} WHERE subject = ?", (subject or "",))
                return
            db.execute(
                f"INSERT INTO {table} (subject, {column}) VALUES (?, ?) "
                f"ON CONFLICT(subject) DO UPDATE SET {column} = excluded.{column}",
                (subject or "", value),
            )


def _insert_schema(db: sqlite3.Connection, schema_id: int | None, candidate: Candidate) -> int:
    """The new schema row's id: `schema_id`, or (None) the next AUTOINCREMENT one. An
    explicit id above sqlite_sequence moves the sequence past it."""
    cursor = db.execute(
        "INSERT INTO schemas (id, fingerprint, schema_type, schema, refs, descriptors, root) "
        "VALUES (?, ?, 'PROTOBUF', ?, ?, ?, ?)",
        (
            schema_id,
            candidate.fingerprint,
            candidate.schema,
            _refs_json(candidate.references),
            candidate.descriptors,
            candidate.root,
        ),
    )
    return int(cursor.lastrowid or 0)


def _refs_json(references: tuple[Reference, ...]) -> str:
    return json.dumps([r.to_json() for r in references], sort_keys=True)


def _schema_by_id(db: sqlite3.Connection, schema_id: int) -> SchemaRecord | None:
    row = db.execute(
        "SELECT id, fingerprint, schema, refs, descriptors, root, schema_type "
        "FROM schemas WHERE id = ?",
        (schema_id,),
    ).fetchone()
    return None if row is None else _schema(row)


def _schema(row: tuple[object, ...]) -> SchemaRecord:
    schema_id, fingerprint, schema, refs, descriptors, root, schema_type = row
    references = tuple(
        Reference(str(r["name"]), str(r["subject"]), int(r["version"]))
        for r in json.loads(str(refs))
    )
    assert isinstance(descriptors, bytes)
    return SchemaRecord(
        id=int(str(schema_id)),
        schema=str(schema),
        references=references,
        descriptors=descriptors,
        root=str(root),
        fingerprint=str(fingerprint),
        schema_type=str(schema_type),
    )


def _subject_version(row: tuple[object, ...]) -> SubjectVersion:
    subject, version, deleted = row[:3]
    return SubjectVersion(
        subject=str(subject),
        version=int(str(version)),
        schema=_schema(row[3:]),
        deleted=bool(deleted),
    )
