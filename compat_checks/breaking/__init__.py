"""Breaking-change checks: buf breaking on two images, plus who each finding breaks."""

from __future__ import annotations

import re
from dataclasses import dataclass

from compat_checks.breaking import audience, baseline
from contracts_core import buf
from contracts_core.findings import Finding
from contracts_core.image import Image
from contracts_core.workspace import Workspace

_QUOTED = re.compile(r'"([^"]*)"')


@dataclass(frozen=True)
class BreakingReport:
    """The findings, the baseline they were judged against, and lines for the user
    about how that baseline was chosen or read (the CLI prints them on stderr)."""

    findings: list[Finding]
    baseline: str
    notes: tuple[str, ...]


def run_breaking(ws: Workspace, image: Image, against: str | None) -> BreakingReport:
    """Findings of buf breaking (categories from buf.yaml), each with its audiences."""
    base = baseline.resolve(ws, against)
    old = base.image
    if old is None:
        return BreakingReport([], base.label, base.notes)
    judge = audience.Judge(old, image)
    findings = []
    for args in _invocations(ws, image, old):
        for d in buf.run(args, cwd=ws.root).diagnostics:
            path = d.path
            if not path and d.rule == "FILE_NO_DELETE":
                quoted = _QUOTED.findall(d.message)
                path = quoted[0] if quoted else ""
            file = _workspace_path(ws, path, image, old)
            verdict = audience.classify(d.rule, d, judge)
            findings.append(d.finding(file, verdict.breaks, verdict.may_break))
    return BreakingReport(sorted(set(findings), key=Finding.sort_key), base.label, base.notes)


def _workspace_path(ws: Workspace, name: str, new: Image, old: Image) -> str:
    """Where a finding's module-relative file is (or was) in today's workspace; "" if nowhere.

    A deleted file keeps the place it had in the baseline only when one of
    today's modules still covers that place: a layout the tree no longer has is
    not shown as if it were there.
    """
    if name in new.targets:
        return new.workspace_path(name)
    if name in old.targets:
        place = old.workspace_path(name)
    elif len(ws.buf.modules) == 1 and name:
        # A baseline image file records no layout: with one module there is only
        # one place the file can have been.
        place = ws.buf.modules[0].to_workspace_relative(name)
    else:
        return ""
    return place if any(m.contains(place) for m in ws.buf.modules) else ""


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
