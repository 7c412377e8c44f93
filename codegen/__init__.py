"""The contracts toolchain: workspace discovery, the compile step, tools and the CLI.

The checks (lint rules, breaking-change classification) live in `compat_checks`.
"""
