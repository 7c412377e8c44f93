"""`contracts check`: every gate in one run, one report and one exit code.

Lint, breaking against the baseline, the generated-code drift check and, when a
registry is configured, the registry check, from one compiled image, all at the
same time (each spends most of its time in buf, plugins, go or waiting on the
registry, outside the GIL). It lives beside the CLI because it is the one
piece that needs both the gates (compat_checks) and the generators (codegen), and
only this package may import both.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from codegen.gen import GenResult, run
from compat_checks.breaking import run_breaking
from compat_checks.lint import run_lint
from compat_checks.registry.sync import check_configured
from contracts_core.findings import Finding, Severity
from contracts_core.image import compile_workspace
from contracts_core.workspace import Workspace

DRIFT = "GEN_DRIFT"
REGISTRY_SKIPPED = (
    "registry: skipped (not configured: set url or store in [tool.contracts.registry], "
    "or pass --registry-url)"
)


@dataclass(frozen=True)
class CheckReport:
    findings: list[Finding]
    notes: tuple[str, ...]  # how the breaking baseline was chosen or read
    summary: tuple[str, ...]  # one line per step


def run_check(
    ws: Workspace,
    rediscover: Callable[[], Workspace],
    against: str | None = None,
    on_wait: Callable[[str], None] = lambda _: None,
    registry_url: str | None = None,
) -> CheckReport:
    """Lint, breaking, `gen --check` and the registry check on the workspace; their
    findings in one list."""
    image = compile_workspace(ws)
    with ThreadPoolExecutor(max_workers=4) as pool:
        lint = pool.submit(run_lint, ws, image)
        breaking = pool.submit(run_breaking, ws, image, against)
        gen = pool.submit(run, ws, rediscover, None, check=True, on_wait=on_wait)
        registry = pool.submit(check_configured, ws, image, registry_url)
        # .result() re-raises a step's ContractsError with its own exit code.
        lint_findings, report, results = lint.result(), breaking.result(), gen.result()
        synced = registry.result()
    drift = [f for r in results for f in drift_findings(ws, r)]
    compat = synced.findings if synced else []
    findings = sorted({*lint_findings, *report.findings, *drift, *compat}, key=Finding.sort_key)
    summary = (
        f"lint: {len(lint_findings)} finding(s)",
        f"breaking against {report.baseline}: {len(report.findings)} finding(s)",
        *(
            f"gen {r.target}: {_changed(r)} file(s) out of date"
            if r.diff.changed
            else f"gen {r.target}: up to date"
            for r in results
        ),
        *(
            (synced.summary(), *(f"  {s.line()}" for s in synced.subjects))
            if synced
            else (REGISTRY_SKIPPED,)
        ),
    )
    return CheckReport(findings, report.notes, summary)


def _changed(result: GenResult) -> int:
    d = result.diff
    return len(d.stale) + len(d.missing) + len(d.extra)


def drift_findings(ws: Workspace, result: GenResult) -> list[Finding]:
    """Each file `contracts gen` would write, rewrite or remove, as a finding."""
    rel = result.out_dir.relative_to(ws.root).as_posix()
    what = {
        "stale": "differs from what `contracts gen` writes",
        "missing": "is not there; `contracts gen` writes it",
        "extra": "is no longer generated; `contracts gen` removes it",
    }
    d = result.diff
    return [
        Finding(
            f"{rel}/{path}",
            0,
            0,
            DRIFT,
            f"this file {what[label]}",
            Severity.ERROR,
            "contracts",
            "Run `contracts gen` and commit the result.",
        )
        for label, paths in (("stale", d.stale), ("missing", d.missing), ("extra", d.extra))
        for path in paths
    ]
