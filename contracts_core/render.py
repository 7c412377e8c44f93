"""Renderings of findings: text, JSON and GitHub workflow annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence

from contracts_core.findings import Finding, Severity

FORMATS = ("text", "json", "github")


def render(findings: Sequence[Finding], fmt: str) -> str:
    if fmt == "json":
        return render_json(findings)
    if fmt == "github":
        return render_github(findings)
    return render_text(findings)


def audiences(f: Finding) -> str:
    """`breaks: X, Y; may break: Z`, or "" when the finding names no audience."""
    parts = []
    if f.breaks:
        parts.append(f"breaks: {', '.join(a.label for a in f.breaks)}")
    if f.may_break:
        parts.append(f"may break: {', '.join(a.label for a in f.may_break)}")
    return "; ".join(parts)


def _where(f: Finding) -> str:
    """`file:line:col `; a whole-file finding (generated-code drift) has no position,
    and a file deleted since a baseline may have no place in today's tree."""
    if not f.file:
        return ""
    return f"{f.file}:{f.line}:{f.column} " if f.line else f"{f.file}: "


def render_text(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        line = f"{_where(f)}{f.rule} {f.message}"
        if who := audiences(f):
            line += f" [{who}]"
        lines.append(line)
    return "\n".join(lines)


def as_dict(f: Finding) -> dict[str, object]:
    item: dict[str, object] = {
        "rule": f.rule,
        "severity": f.severity.value,
        "file": f.file,
        "line": f.line,
        "column": f.column,
        "message": f.message,
        "source": f.source,
    }
    if f.fix:
        item["fix"] = f.fix
    if f.breaks:
        item["breaks"] = [a.value for a in f.breaks]
    if f.may_break:
        item["may_break"] = [a.value for a in f.may_break]
    if f.path:
        item["path"] = f.path
    if f.violates:
        item["violates"] = list(f.violates)
    return item


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps([as_dict(f) for f in findings], indent=2)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        level = "error" if f.severity is Severity.ERROR else "warning"
        props = [f"file={_escape_property(f.file)}"] if f.file else []
        if f.file and f.line:
            props += [f"line={f.line}", f"col={f.column}"]
        props.append(f"title={_escape_property(f.rule)}")
        message = f.message
        if who := audiences(f):
            message += f" ({who})"
        if f.fix:
            message += f"\nFix: {f.fix}"
        lines.append(f"::{level} {','.join(props)}::{_escape_data(message)}")
    return "\n".join(lines)
