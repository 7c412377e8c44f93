"""The `contracts` command: thin wrappers that parse arguments, call one library
function and render its result.

Exit codes: 0 clean, 1 findings (or doctor found a problem), 2 usage,
configuration or tool error, 3 the contracts do not compile.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from contracts_core import tools
from contracts_core.errors import ContractsError, ExitCode
from contracts_core.findings import Finding, Severity
from contracts_core.image import compile_workspace
from contracts_core.render import FORMATS, render
from contracts_core.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


def _handle_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ContractsError as exc:
            click.echo(f"contracts: {exc.message}", err=True)
            sys.exit(int(exc.exit_code))

    return wrapper  # type: ignore[return-value]


root_option = click.option(
    "--root",
    # Checked by Workspace.discover, which reports it as one `contracts:` line.
    type=click.Path(path_type=Path),
    default=None,
    help="Workspace directory (default: the nearest buf.yaml above the current directory).",
)
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: file:line:col RULE message; json: a list of findings; github: workflow annotations.",
)
fail_on_option = click.option(
    "--fail-on",
    type=click.Choice(["error", "warning"]),
    default="warning",
    show_default=True,
    help="Lowest severity that makes the exit code 1.",
)


def _report(findings: Sequence[Finding], fmt: str, fail_on: str) -> None:
    text = render(findings, fmt)
    if fmt == "json" or text:
        click.echo(text)
    failing = [f for f in findings if fail_on == "warning" or f.severity is Severity.ERROR]
    sys.exit(int(ExitCode.FINDINGS if failing else ExitCode.OK))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fleet-contracts-toolchain", prog_name="contracts")
def main() -> None:
    """Contract-first toolchain: lint, breaking-change checks and code generation for
    the Go + Python fleet. Exit codes: 0 clean, 1 findings, 2 usage/config/tool
    error, 3 contracts do not compile."""


@main.command()
@root_option
@format_option
@fail_on_option
@_handle_errors
def lint(root: Path | None, fmt: str, fail_on: str) -> None:
    """Run buf lint and our cross-language rules over one compiled image."""
    from compat_checks.lint import run_lint

    ws = Workspace.discover(root=root)
    _report(run_lint(ws, compile_workspace(ws)), fmt, fail_on)


@main.command()
@root_option
@click.option(
    "--against",
    default=None,
    metavar="REF|IMAGE|DIR",
    help="What to compare with: a git ref, an image file (buf build -o), or a directory. "
    "Default: the merge base with the remote's default branch (origin/HEAD); without "
    "one, the merge base with main, else master.",
)
@format_option
@fail_on_option
@_handle_errors
def breaking(root: Path | None, against: str | None, fmt: str, fail_on: str) -> None:
    """Run buf breaking against a baseline; each finding says who it breaks."""
    from compat_checks.breaking import run_breaking

    ws = Workspace.discover(root=root)
    report = run_breaking(ws, compile_workspace(ws), against)
    for note in report.notes:
        click.echo(f"contracts: {note}", err=True)
    _report(report.findings, fmt, fail_on)


@main.command()
@root_option
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="NAME",
    help="Generate only this target (python, go, jsonschema); repeatable. Default: all.",
)
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 listing stale, missing or extra files."
)
@_handle_errors
def gen(root: Path | None, targets: tuple[str, ...], check: bool) -> None:
    """Generate code from the contracts into generated/, atomically."""
    from codegen import noop_stamp

    ws = Workspace.discover(root=root)
    # Fingerprint the inputs before anything reads them for generation (the
    # generators included), so an edit made during this run fails the stamp.
    snapshot = noop_stamp.take_snapshot(ws, lambda: Workspace.discover(root=root))
    from codegen.gen import TARGETS, generate

    image = compile_workspace(ws)
    # Progress goes to stderr only on a terminal; CI logs get the summary lines.
    show = sys.stderr.isatty()
    results = generate(
        ws,
        image,
        list(targets) or None,
        check=check,
        progress=(lambda line: click.echo(line, err=True)) if show else (lambda _: None),
    )
    drift = False
    for r in results:
        rel = r.out_dir.relative_to(ws.root).as_posix()
        d = r.diff
        for label, paths in (("stale", d.stale), ("missing", d.missing), ("extra", d.extra)):
            for p in paths:
                click.echo(
                    f"{label}: {rel}/{p}"
                    if check
                    else f"{'removed' if label == 'extra' else 'wrote'}: {rel}/{p}"
                )
        changed = len(d.stale) + len(d.missing) + len(d.extra)
        drift = drift or d.changed
        verb = "out of date" if check else "changed"
        click.echo(
            f"{r.target}: {changed} file(s) {verb} in {rel}"
            if changed
            else f"{r.target}: up to date ({rel})",
            err=True,
        )
    if snapshot is not None:
        # With --check, a target with drift was not made fresh: never stamp it.
        stale = [r.target for r in results if check and r.diff.changed]
        fresh = [r.target for r in results if r.target not in stale]
        noop_stamp.record(snapshot, image.digest, fresh, stale, list(TARGETS))
    sys.exit(int(ExitCode.FINDINGS if check and drift else ExitCode.OK))


@main.command()
def rules() -> None:
    """List our lint rules: ID, severity, rationale and fix."""
    from compat_checks.lint.registry import all_rules

    for r in sorted(all_rules().values(), key=lambda r: r.id):
        click.echo(f"{r.id} ({r.severity.value})\n  why: {r.rationale}\n  fix: {r.fix}")


@main.command()
def doctor() -> None:
    """Check every external tool: found, version, pinned version, and the fix."""
    problems = 0
    for status in tools.report():
        found = status.version or "-"
        where = str(status.path) if status.path else "not found"
        mark = "ok" if status.ok else "PROBLEM"
        click.echo(
            f"{mark:8} {status.spec.name:20} found {found:10} pinned {status.spec.pinned:10} {where}"
        )
        problem = status.problem()
        if problem:
            problems += 1
            click.echo(f"         {problem}")
    sys.exit(int(ExitCode.FINDINGS if problems else ExitCode.OK))
