"""The store a `--store` argument names: a file path (the embedded SQLite store) or
a `postgresql://` URL (the shared PostgreSQL store)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from contracts_core.errors import UsageError

from .sqlite_store import SQLiteStore
from .store import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(spec: str) -> Store:
    """Open (creating tables or the file when missing) the store `spec` names."""
    if spec.startswith(POSTGRES_SCHEMES):
        return _open_postgres(spec)
    if "://" in spec:
        scheme = spec.split("://", 1)[0]
        raise UsageError(
            f"--store: unsupported store URL scheme {scheme!r}; give a SQLite file path "
            "or a postgresql:// URL"
        )
    try:
        return SQLiteStore(Path(spec))
    except sqlite3.Error as exc:
        raise UsageError(f"cannot open the registry store {spec}: {exc}") from None


def _open_postgres(url: str) -> Store:
    try:
        import psycopg

        from .postgres_store import PostgresStore, redacted, scrubbed
    except ImportError:
        raise UsageError(
            "--store postgresql://...: the PostgreSQL store needs the optional dependencies; "
            "install them with pip install 'fleet-contracts-toolchain[postgresql]'"
        ) from None
    try:
        shown = redacted(url)
    except ValueError as exc:  # urllib's parse error quotes no part of the URL
        raise UsageError(f"--store: not a valid postgresql:// URL: {exc}") from None
    try:
        return PostgresStore(url)
    except psycopg.Error as exc:
        # The driver's reason, never the password, which its message may quote.
        reason = scrubbed(str(exc).strip() or type(exc).__name__, url)
        raise UsageError(f"cannot open the registry store {shown}: {reason}") from None
