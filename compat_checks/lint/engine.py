"""One lint run: buf lint on the compiled image and our rules on the same image."""

from __future__ import annotations

from collections.abc import Callable

from compat_checks.lint import suppress
from compat_checks.lint.context import LintContext
from compat_checks.lint.registry import Rule, all_rules
from contracts_core import buf
from contracts_core.descriptors import Kind, Location
from contracts_core.errors import ConfigError
from contracts_core.findings import Finding, Severity
from contracts_core.image import Image
from contracts_core.settings import LintSettings
from contracts_core.workspace import Workspace

REASON_MISSING = "SUPPRESSION_REASON_MISSING"
UNKNOWN_RULE = "SUPPRESSION_UNKNOWN_RULE"
UNUSED = "SUPPRESSION_UNUSED"
PATH_UNUSED = "SUPPRESSION_PATH_UNUSED"


def run_lint(ws: Workspace, image: Image) -> list[Finding]:
    """buf's findings and ours, one sorted list, positions relative to the workspace."""
    rules = active_rules(ws)
    running = [buf.BufProcess(args, cwd=ws.root) for args in buf_lint_invocations(ws, image)]
    ours = check_image(image, ws, rules)
    theirs = [
        d.finding(image.workspace_path(d.path))
        for process in running
        for d in process.wait().diagnostics
    ]
    return sorted({*ours, *theirs}, key=Finding.sort_key)


def buf_lint_invocations(ws: Workspace, image: Image) -> list[list[str]]:
    """One `buf lint <image>` per distinct module config (usually exactly one)."""
    by_config: dict[str, set[str]] = {}
    for module in ws.buf.modules:
        names = {n for n, p in image.targets.items() if module.contains(p)}
        if names:
            by_config.setdefault(ws.buf.image_config(module, "lint"), set()).update(names)
    return buf.per_config_invocations(["lint", str(image.path)], by_config)


def active_rules(ws: Workspace) -> dict[str, Rule]:
    """Our rules after [tool.contracts.lint]; unknown rule IDs there are config errors."""
    rules = all_rules()
    settings = ws.settings.lint
    for rule_id in sorted(settings.rule_ids()):
        if rule_id not in rules:
            key = "disable" if rule_id in settings.disable else "severity"
            if rule_id in settings.ignore:
                key = "ignore"
            raise ConfigError(
                f"{ws.settings.where(key)}: unknown rule ID {rule_id!r} in [tool.contracts.lint]; "
                "`contracts rules` lists them"
            )
    return {rid: r for rid, r in rules.items() if rid not in settings.disable}


def check_image(image: Image, ws: Workspace, rules: dict[str, Rule]) -> list[Finding]:
    """Our rules over the workspace's files in the image; pure apart from reading it."""
    settings = ws.settings.lint
    files = image.target_files()
    ctx = LintContext(image.model, settings, ws.settings.go_module, ws.settings.go_package)
    targets = {f.name for f in files}
    # Only files whose comments mention the directive need their comments decoded.
    with_directives = {
        f.name for f in files if suppress.DIRECTIVE_BYTES in f.source_code_info.SerializeToString()
    }
    by_kind: dict[Kind, list[Rule]] = {}
    for r in rules.values():
        for kind in r.kinds:
            by_kind.setdefault(kind, []).append(r)
    known = all_rules()
    findings: list[Finding] = []
    used: set[int] = set()
    sups_of: dict[int, list[suppress.Suppression]] = {}
    path_of: Callable[[str], str] = image.workspace_path

    if PATH_UNUSED in rules:
        findings.extend(_unused_ignore_paths(ws, [path_of(name) for name in targets]))

    for element in ctx.elements:
        if element.file.name not in targets:
            continue
        file_path = path_of(element.file.name)
        own = suppress.parse(element) if element.file.name in with_directives else []
        sups_of[id(element)] = own
        for s in own:
            problem = None
            if not s.rule:
                problem = (REASON_MISSING, "contracts:ignore needs a rule ID and a reason")
            elif s.rule not in known:
                problem = (UNKNOWN_RULE, f"contracts:ignore names unknown rule {s.rule}")
            elif not s.reason:
                problem = (
                    REASON_MISSING,
                    f"contracts:ignore {s.rule} needs a reason after the rule ID",
                )
            if problem:
                used.add(id(s))
                findings.append(
                    _meta(problem[0], problem[1], file_path, element.location, settings)
                )
        for r in by_kind.get(element.kind, ()):
            if any(_ignored(file_path, p) for p in settings.ignore.get(r.id, ())):
                continue
            verdict = r.check(element, ctx)
            if verdict is None:
                continue
            message, location = (
                verdict if isinstance(verdict, tuple) else (verdict, element.location)
            )
            hit = next(
                (
                    s
                    for node in (element, *element.ancestors())
                    for s in sups_of.get(id(node), ())
                    if s.rule == r.id
                ),
                None,
            )
            if hit is not None:
                used.add(id(hit))
                if hit.reason:
                    continue
            severity = Severity(settings.severity.get(r.id, r.severity.value))
            findings.append(
                Finding(
                    file=file_path,
                    line=location.line,
                    column=location.column,
                    rule=r.id,
                    message=message,
                    severity=severity,
                    source="contracts",
                    fix=r.fix,
                )
            )
    if UNUSED in rules:
        for sups in sups_of.values():
            for s in sups:
                if id(s) not in used and s.rule in rules:
                    findings.append(
                        _meta(
                            UNUSED,
                            f"contracts:ignore {s.rule} suppresses nothing here; remove it",
                            path_of(s.element.file.name),
                            s.element.location,
                            settings,
                        )
                    )
    return findings


def _ignored(file_path: str, prefix: str) -> bool:
    return file_path == prefix or file_path.startswith(prefix + "/")


def _unused_ignore_paths(ws: Workspace, file_paths: list[str]) -> list[Finding]:
    """A finding on pyproject.toml for each [tool.contracts.lint] ignore path that no
    file of the workspace is under. buf accepts such paths in buf.yaml silently; we
    warn, as for a contracts:ignore comment that suppresses nothing."""
    settings = ws.settings
    if settings.file is None:
        return []
    where = settings.file.relative_to(ws.root).as_posix()
    out = []
    for rule_id, prefixes in sorted(settings.lint.ignore.items()):
        for prefix in prefixes:
            if not any(_ignored(f, prefix) for f in file_paths):
                message = (
                    f"ignore path {prefix!r} for {rule_id} in [tool.contracts.lint] matches no "
                    ".proto file of the workspace, so it ignores nothing"
                )
                line = settings.line_of_string(prefix)
                out.append(_meta(PATH_UNUSED, message, where, Location(line, 1), settings.lint))
    return out


def _meta(rule_id: str, message: str, file: str, loc: Location, settings: LintSettings) -> Finding:
    r = all_rules()[rule_id]
    severity = Severity(settings.severity.get(rule_id, r.severity.value))
    return Finding(file, loc.line, loc.column, rule_id, message, severity, "contracts", r.fix)
