"""A schema registry speaking Confluent Schema Registry's REST API for Protobuf schemas.

`model.py` the records; `store.py` the store interface and `sqlite_store.py` the
embedded SQLite store; `compiler.py` turns schema text into descriptors
(protoc runs in the `protoc_worker.py` process); `service.py` the registry's
rules over a store; `app.py` the HTTP API; `server.py` runs it on uvicorn.

The toolchain's side: `client.py` a client of the REST API (stdlib HTTP, with
timeouts) and `client_auth.py` its credentials; `targets.py` a registry at a URL or a
store used directly, behind one interface; `subjects.py` the subject naming
strategies; `sync.py` `contracts registry check` and `push` over a workspace.
"""

from .errors import RegistryError
from .model import Reference, SchemaRecord, SubjectVersion
from .service import Registry
from .sqlite_store import SQLiteStore
from .store import Store

__all__ = [
    "Reference",
    "Registry",
    "RegistryError",
    "SQLiteStore",
    "SchemaRecord",
    "Store",
    "SubjectVersion",
]
