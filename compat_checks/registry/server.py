"""Run the registry on uvicorn over the embedded SQLite store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import uvicorn

from contracts_core.errors import UsageError

from .app import DEFAULT_MAX_BODY, build_app
from .service import Registry
from .sqlite_store import SQLiteStore

LOOPBACK = "127.0.0.1"


def serve(
    store_path: Path, host: str = LOOPBACK, port: int = 8081, max_body: int = DEFAULT_MAX_BODY
) -> None:
    """Serve until interrupted. The store file is created when missing."""
    try:
        store = SQLiteStore(store_path)
    except sqlite3.Error as exc:
        raise UsageError(f"cannot open the registry store {store_path}: {exc}") from None
    app = build_app(Registry(store), max_body=max_body)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    except SystemExit as exc:
        # uvicorn exits on a startup failure (the port taken, say) after logging why.
        if exc.code not in (0, None):
            raise UsageError(f"the registry could not start on {host}:{port} (see above)") from None
        raise
