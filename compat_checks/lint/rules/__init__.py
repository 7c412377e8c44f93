"""Our lint rules, one module per family. Importing this package registers them."""

from compat_checks.lint.rules import (  # noqa: F401
    api,
    field_types,
    go_package,
    names,
    precision,
    suppression,
)
