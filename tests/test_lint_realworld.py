"""Our rules on a slice of protos shaped like public trees (telemetry, model serving,
workflow engines): only the findings marked `// expected:` may be reported.

Each field there is a shape that once drew a false positive on a real tree
(docs/lint-precision.md): ids documented as N-byte arrays, row-major layouts,
format fields beside a payload, page and conflict tokens, header maps, counts and
dimensions in int64, per-item errors in streams, rates per second, and Go import
paths that do not mirror the proto folders.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from compat_checks.lint.engine import active_rules, check_image
from contracts_core.image import compile_workspace
from contracts_core.workspace import Workspace

SLICE = Path(__file__).parent / "fixtures" / "lint_realworld"
_EXPECTED = re.compile(r"//\s*expected:\s*(?P<rules>[A-Z0-9_ ]+)$")


def expected_findings(root: Path) -> set[tuple[str, int, str]]:
    """(file, line, rule) for each `// expected: RULE...` comment: the next line's field."""
    out = set()
    for proto in sorted(root.rglob("*.proto")):
        lines = proto.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            match = _EXPECTED.search(line.strip())
            if match:
                for rule in match.group("rules").split():
                    out.add((proto.relative_to(root).as_posix(), number + 1, rule))
    return out


def test_realworld_shapes_draw_only_the_expected_findings(tmp_path: Path) -> None:
    root = tmp_path / "slice"
    shutil.copytree(SLICE, root)
    ws = Workspace.discover(root=root)
    findings = check_image(compile_workspace(ws), ws, active_rules(ws))
    got = {(f.file, f.line, f.rule) for f in findings}
    expected = expected_findings(root)
    assert len(expected) == 4  # the markers themselves are read correctly
    assert got - expected == set(), "false positives on real-world shapes"
    assert expected - got == set(), "true positives no longer reported"
