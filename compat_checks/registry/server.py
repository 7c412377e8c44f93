"""Run the registry on uvicorn over the store a `--store` argument names."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from contracts_core.errors import UsageError

from .app import DEFAULT_MAX_BODY, build_app
from .compiler import stop_worker
from .server_auth import Credentials
from .service import Registry
from .stores import open_store

LOOPBACK = "127.0.0.1"


def serve(
    store: str,
    host: str = LOOPBACK,
    port: int = 8081,
    max_body: int = DEFAULT_MAX_BODY,
    read_only: bool = False,
    users_file: Path | None = None,
    tokens_file: Path | None = None,
) -> None:
    """Serve until interrupted. A SQLite store file, or PostgreSQL tables, are
    created when missing. With a users file and/or a tokens file, every request
    needs credentials (server_auth.py)."""
    credentials = Credentials.load(users_file, tokens_file)
    if credentials is not None and credentials.plaintext_users:
        names = ", ".join(credentials.plaintext_users)
        print(
            f"contracts: warning: {users_file}: the password of {names} is stored as it "
            "is; replace it with the line `contracts registry hash-password USER` prints",
            file=sys.stderr,
        )
    opened = open_store(store)
    app = build_app(
        Registry(opened), max_body=max_body, read_only=read_only, credentials=credentials
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    except SystemExit as exc:
        # uvicorn exits on a startup failure (the port taken, say) after logging why.
        if exc.code not in (0, None):
            raise UsageError(f"the registry could not start on {host}:{port} (see above)") from None
        raise
    finally:
        opened.close()
        stop_worker()
