"""Lint: buf's rules plus our cross-language hazard rules, over one image."""

from compat_checks.lint.engine import run_lint

__all__ = ["run_lint"]
