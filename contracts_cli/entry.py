"""The `contracts` console script's front door.

An unchanged `contracts gen` is answered from the no-op stamp (codegen.noop_stamp)
with the standard library alone; importing click, protobuf and yaml would cost
more than the answer. Everything else, and any doubt, goes to the click CLI.
"""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["gen"]:
        from codegen import noop_stamp

        lines = noop_stamp.answer(args)
        if lines is not None:
            # What the full path's click.echo(..., err=True) prints for a no-op run.
            sys.stderr.write("".join(f"{line}\n" for line in lines))
            sys.stderr.flush()
            return
    from contracts_cli.cli import main as cli_main

    cli_main()
