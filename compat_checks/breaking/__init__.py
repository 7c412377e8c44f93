"""Breaking-change checks: buf breaking on two images, plus who each finding breaks."""

from __future__ import annotations

import re

from compat_checks.breaking import audience, baseline
from contracts_core import buf
from contracts_core.findings import Finding
from contracts_core.image import Image
from contracts_core.workspace import Workspace

_QUOTED = re.compile(r'"([^"]*)"')


def run_breaking(ws: Workspace, image: Image, against: str | None) -> list[Finding]:
    """Findings of buf breaking (categories from buf.yaml), each with its audiences."""
    old, _label = baseline.resolve(ws, against)
    if old is None:
        return []
    findings = []
    for args in _invocations(ws, image, old):
        for d in buf.run(args, cwd=ws.root).diagnostics:
            path = d.path
            if not path and d.rule == "FILE_NO_DELETE":
                quoted = _QUOTED.findall(d.message)
                path = quoted[0] if quoted else ""
            file = _workspace_path(ws, path, image, old)
            findings.append(d.finding(file, audience.classify(d.rule, d, old, image)))
    return sorted(set(findings), key=Finding.sort_key)


def _workspace_path(ws: Workspace, name: str, new: Image, old: Image) -> str:
    """Where a finding's module-relative file is (or was) in the workspace."""
    if name in new.targets:
        return new.workspace_path(name)
    if name in old.targets:
        return old.workspace_path(name)
    # A file deleted since a baseline image file (which records no layout): with one
    # module there is only one place it can have been.
    if len(ws.buf.modules) == 1 and name:
        return ws.buf.modules[0].to_workspace_relative(name)
    return name


def _invocations(ws: Workspace, new: Image, old: Image) -> list[list[str]]:
    by_config: dict[str, set[str]] = {}
    for module in ws.buf.modules:
        config = ws.buf.image_config(module, "breaking")
        # The baseline's files too: a file deleted from this module is only
        # reported when its name is among the paths this module's check covers.
        names = {
            n
            for targets in (new.targets, old.targets)
            for n, p in targets.items()
            if module.contains(p)
        }
        by_config.setdefault(config, set()).update(names)
    command = ["breaking", str(new.path), "--against", str(old.path), "--exclude-imports"]
    return buf.per_config_invocations(command, by_config)
