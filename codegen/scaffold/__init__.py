"""`contracts new service`: Python gRPC services scaffolded from the contracts.

| module | job |
|---|---|
| `names.py` | the service's folder/Kubernetes name and Python package, checked |
| `view.py` | the view model: every name, type, import and RPC kind, from the descriptor model |
| `catalog.py` | template folders (discovered, overridable) and their rendering |
| `answers.py` | the answers file: what was rendered, the base of a 3-way update |
| `merge.py` | one file's 3-way merge (`git merge-file`) |
| `apply.py` | the command: decide every file's fate, then write atomically |
"""

from codegen.scaffold.apply import (
    DEFAULT_TEMPLATE,
    Action,
    FileResult,
    Request,
    Result,
    list_templates,
    new_service,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "Action",
    "FileResult",
    "Request",
    "Result",
    "list_templates",
    "new_service",
]
