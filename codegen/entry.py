"""The `contracts` console script."""

from __future__ import annotations


def main() -> None:
    from codegen.cli import main as cli_main

    cli_main()
