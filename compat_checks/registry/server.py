"""Run the registry on uvicorn over the embedded SQLite store."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from .app import DEFAULT_MAX_BODY, build_app
from .service import Registry
from .sqlite_store import SQLiteStore

LOOPBACK = "127.0.0.1"


def serve(
    store_path: Path, host: str = LOOPBACK, port: int = 8081, max_body: int = DEFAULT_MAX_BODY
) -> None:
    """Serve until interrupted. The store file is created when missing."""
    store_path.parent.mkdir(parents=True, exist_ok=True)
    store = SQLiteStore(store_path)
    app = build_app(Registry(store), max_body=max_body)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
