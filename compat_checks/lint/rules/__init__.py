"""Our lint rules, one module per family. Importing this package registers them."""

from compat_checks.lint.rules import suppression  # noqa: F401
