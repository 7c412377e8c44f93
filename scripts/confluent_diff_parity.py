"""Our Protobuf differences against Confluent Schema Registry's own test table.

    .venv/bin/python scripts/confluent_diff_parity.py PATH/diff-schema-examples.json

The table is protobuf-provider/src/test/resources/diff-schema-examples.json in
github.com/confluentinc/schema-registry (not vendored here: bring a checkout).
Each case's original and updated schema, with their dependencies, is compiled
by buf; the script compares our differences (type and path) and verdict with
the ones Confluent expects, prints every mismatch, and exits 1 on any.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from compat_schemas import Compiler

from compat_checks.compat import DifferenceType, differences
from contracts_core.errors import CompileError


def tree(case: dict[str, Any], side: str) -> dict[str, str]:
    files = {"root.proto": case[f"{side}_schema"]}
    for dep in case.get(f"{side}_dependencies", []):
        files[dep["name"]] = dep["dependency"]
    return files


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    cases = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    agree = 0
    with tempfile.TemporaryDirectory() as tmp:
        compiler = Compiler(Path(tmp))
        for case in cases:
            name = case["description"]
            try:
                old = compiler.schema(tree(case, "original"), "root.proto")
                new = compiler.schema(tree(case, "update"), "root.proto")
            except CompileError as exc:
                print(f"does not compile: {name}: {exc}")
                continue
            found = [
                d
                for d in differences(old, new)
                if d.type is not DifferenceType.FIELD_JSON_NAME_CHANGED  # ours, not Confluent's
            ]
            got = {f"{d.type} {d.path}" for d in found}
            compatible = not any(d.type.breaks_wire for d in found)
            if got == set(case["changes"]) and compatible == case["compatible"]:
                agree += 1
            else:
                print(f"differs: {name}: expected {sorted(case['changes'])} ", end="")
                print(f"compatible={case['compatible']}, got {sorted(got)} compatible={compatible}")
    print(f"{agree} of {len(cases)} cases agree")
    return 0 if agree == len(cases) else 1


if __name__ == "__main__":
    raise SystemExit(main())
