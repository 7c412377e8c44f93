"""The `contracts` command: thin wrappers that parse arguments, call one library
function and render its result. Exit codes are contracts_core.errors.ExitCode.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from contracts_core import tools
from contracts_core.errors import ContractsError, ExitCode, UsageError, exit_code_summary
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
against_option = click.option(
    "--against",
    default=None,
    metavar="REF|IMAGE|DIR",
    help="The breaking baseline: a git ref, an image file (buf build -o), or a directory. "
    "Default: the merge base with the remote's default branch (origin/HEAD); without "
    "one, the merge base with main, else master.",
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


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Contract-first toolchain: lint, breaking-change checks and code generation for "
    f"the Go + Python fleet. Exit codes: {exit_code_summary()}.",
)
@click.version_option(package_name="fleet-contracts-toolchain", prog_name="contracts")
def main() -> None:
    pass


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
@against_option
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
    from codegen.gen import run

    ws = Workspace.discover(root=root)
    # Progress goes to stderr only on a terminal; CI logs get the summary lines.
    show = sys.stderr.isatty()
    results = run(
        ws,
        lambda: Workspace.discover(root=root),
        list(targets) or None,
        check=check,
        progress=(lambda line: click.echo(line, err=True)) if show else (lambda _: None),
        on_wait=lambda line: click.echo(f"contracts: {line}", err=True),
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
    sys.exit(int(ExitCode.FINDINGS if check and drift else ExitCode.OK))


@main.command()
@root_option
@against_option
@format_option
@fail_on_option
@click.option(
    "--registry-url",
    default=None,
    help="Also check against this schema registry (default: [tool.contracts.registry]).",
)
@_handle_errors
def check(
    root: Path | None, against: str | None, fmt: str, fail_on: str, registry_url: str | None
) -> None:
    """Every gate at once: lint, breaking, gen --check and the registry check (when a
    registry is configured), one report, one exit code."""
    from contracts_cli.check import run_check

    ws = Workspace.discover(root=root)
    report = run_check(
        ws,
        lambda: Workspace.discover(root=root),
        against,
        on_wait=lambda line: click.echo(f"contracts: {line}", err=True),
        registry_url=registry_url,
    )
    for line in (*report.notes, *report.summary):
        click.echo(f"contracts: {line}", err=True)
    _report(report.findings, fmt, fail_on)


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
            f"{mark:8} {status.spec.name:20} found {found:10} "
            f"{'minimum' if status.spec.minimum else 'pinned'} {status.spec.pinned:10} {where}"
        )
        problem = status.problem()
        if problem:
            problems += 1
            click.echo(f"         {problem}")
    sys.exit(int(ExitCode.FINDINGS if problems else ExitCode.OK))


@main.command()
@click.option(
    "--root",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="The proto tree to make a workspace of.",
)
@click.option("--go-module", default=None, help="Go module path for generated/go.")
@click.option(
    "--module",
    "modules",
    multiple=True,
    help="A module root (directory the imports resolve from); repeatable. Default: detected.",
)
@click.option("--force", is_flag=True, help="Replace an existing buf.yaml.")
@_handle_errors
def init(root: Path, go_module: str | None, modules: tuple[str, ...], force: bool) -> None:
    """Write buf.yaml and [tool.contracts] for an existing proto tree."""
    from contracts_core.workspace_init import init_workspace

    result = init_workspace(root, go_module=go_module, modules=modules, force=force)
    click.echo(f"wrote: {result.buf_yaml} (modules: {', '.join(result.modules)})")
    if result.pyproject_action == "kept":
        click.echo(f"kept: {result.pyproject} (it already has [tool.contracts])")
    else:
        click.echo(f"{result.pyproject_action}: {result.pyproject} [tool.contracts]")
        click.echo(f"  go_module = {result.go_module}")
    if result.go_package_prefix:
        click.echo(f"  go_package_prefix = {result.go_package_prefix} (files without go_package)")
    for name in result.unresolved:
        click.echo(
            f'warning: import "{name}" resolves in no module; add its module to buf.yaml deps',
            err=True,
        )
    click.echo("next: contracts lint && contracts gen")


@main.group()
def new() -> None:
    """Make something new from the contracts (a service)."""


@new.command("service")
@click.argument("name", required=False)
@root_option
@click.option(
    "--service",
    "service",
    default=None,
    metavar="PACKAGE.SERVICE",
    help="The contract's service to serve, by full name (recorded; --update reuses it).",
)
@click.option(
    "--template",
    default=None,
    help="The template to render (default: grpc; --list shows them).",
)
@click.option("--dir", "directory", default="services", show_default=True, help="Parent folder.")
@click.option("--list", "list_", is_flag=True, help="List the templates and exit.")
@click.option("--dry-run", is_flag=True, help="Say what would be written; write nothing.")
@click.option("--force", is_flag=True, help="Overwrite files you changed.")
@click.option(
    "--update",
    is_flag=True,
    help="Re-render and merge three ways into your files; exit 1 listing conflicts.",
)
@_handle_errors
def new_service(
    name: str | None,
    root: Path | None,
    service: str | None,
    template: str | None,
    directory: str,
    list_: bool,
    dry_run: bool,
    force: bool,
    update: bool,
) -> None:
    """Scaffold services/NAME: a Python gRPC service of a contract's service."""
    from codegen.scaffold import Request, list_templates, new_service

    if list_:
        for info in list_templates(_workspace_or_none(root)):
            click.echo(f"{info.name:12} {info.description} (version {info.version})")
        return
    if not name:
        raise click.UsageError("NAME is required (or --list)")
    ws = Workspace.discover(root=root)
    result = new_service(
        ws,
        compile_workspace(ws),
        Request(name, service, template, directory, dry_run, force, update),
    )
    prefix = "dry run, not written: " if result.dry_run else ""
    for f in result.files:
        click.echo(f"{prefix}{f.action.value}: {f.path} ({f.reason})")
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.recorded:
        click.echo(f"recorded: {result.recorded} (what was rendered; --update merges against it)")
    if result.conflicts:
        click.echo(f"{len(result.conflicts)} file(s) with conflicts to resolve:", err=True)
        for path in result.conflicts:
            click.echo(f"  {path}", err=True)
    sys.exit(int(result.exit_code))


def _workspace_or_none(root: Path | None) -> Workspace | None:
    """The workspace, for its template overrides; without --root, --list also works
    outside any workspace."""
    try:
        return Workspace.discover(root=root)
    except ContractsError:
        if root is not None:
            raise
        return None


@main.group()
def registry() -> None:
    """Schema registry speaking Confluent's REST API for Protobuf schemas.

    push and check talk to --url, or use a --store file directly; without either, to
    [tool.contracts.registry] url or store in pyproject.toml. Credentials come from
    the environment or a file, never the command line: CONTRACTS_REGISTRY_USER_INFO
    (USER:PASSWORD, basic auth), CONTRACTS_REGISTRY_TOKEN (a bearer token), or
    CONTRACTS_REGISTRY_AUTH_FILE or --auth-file (a file whose first line is
    USER:PASSWORD or `Bearer TOKEN`).
    """


def _registry_options(func: F) -> F:
    for option in reversed(
        [
            root_option,
            click.option(
                "--url", default=None, help="The registry's URL (default: from pyproject.toml)."
            ),
            click.option(
                "--store",
                default=None,
                type=click.Path(dir_okay=False, path_type=Path),
                help="A registry store (SQLite file) to use directly, without a server.",
            ),
            click.option(
                "--auth-file",
                default=None,
                type=click.Path(dir_okay=False, path_type=Path),
                help="File with USER:PASSWORD or `Bearer TOKEN` (else the environment).",
            ),
            click.option(
                "--timeout",
                default=30.0,
                show_default=True,
                type=click.FloatRange(min=0, min_open=True),
                help="Seconds to wait for each answer of the registry.",
            ),
        ]
    ):
        func = option(func)
    return func


def _registry_run(
    root: Path | None,
    url: str | None,
    store: Path | None,
    auth_file: Path | None,
    timeout: float,
    push: bool,
) -> Any:
    from compat_checks.registry.sync import run_registry

    ws = Workspace.discover(root=root)
    report = run_registry(ws, push=push, url=url, store=store, auth_file=auth_file, timeout=timeout)
    if not report.pushed:
        for result in report.subjects:
            click.echo(f"contracts: {result.line()}", err=True)
    click.echo(f"contracts: {report.summary()}", err=True)
    return report


@registry.command("push")
@_registry_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: one line per subject; json: a list of subjects (subject, file, status, "
    "version, id); github: as text. A refusal lists its findings in this format.",
)
@_handle_errors
def registry_push(
    root: Path | None,
    url: str | None,
    store: Path | None,
    auth_file: Path | None,
    timeout: float,
    fmt: str,
) -> None:
    """Register every contract file, imports first as references; exit 1 (registering
    nothing) when a subject is incompatible."""
    import json

    report = _registry_run(root, url, store, auth_file, timeout, push=True)
    if not report.pushed:
        click.echo("contracts: nothing registered: a subject is incompatible", err=True)
        _report(report.findings, fmt, "warning")
    if report.findings:
        registered = [r.subject for r in report.subjects if r.status.value == "registered"]
        click.echo(
            f"contracts: the registry refused {report.subjects[-1].subject}; registered "
            f"before it: {', '.join(registered) or 'none'}",
            err=True,
        )
        _report(report.findings, fmt, "warning")
    if fmt == "json":
        click.echo(json.dumps([r.as_dict() for r in report.subjects], indent=2))
    else:
        for result in report.subjects:
            click.echo(result.line())


@registry.command("check")
@_registry_options
@format_option
@fail_on_option
@_handle_errors
def registry_check(
    root: Path | None,
    url: str | None,
    store: Path | None,
    auth_file: Path | None,
    timeout: float,
    fmt: str,
    fail_on: str,
) -> None:
    """Per subject, whether the working tree's contracts are compatible under the
    subject's mode; registers nothing."""
    report = _registry_run(root, url, store, auth_file, timeout, push=False)
    _report(report.findings, fmt, fail_on)


@registry.command("hash-password")
@click.argument("user")
@_handle_errors
def registry_hash_password(user: str) -> None:
    """Print USER's line for `registry serve --users-file`, the password hashed (scrypt).

    The password is read from standard input: typed twice at a terminal (not echoed),
    else the first line of what is piped in. Never give it as an argument, where `ps`
    and shell history would show it.
    """
    import getpass

    from compat_checks.registry.server_auth import hash_password

    if not user or ":" in user:
        raise UsageError(f"user {user!r}: a name without a colon is needed")
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {user}: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ")
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    click.echo(f"{user}:{hash_password(password)}")


@registry.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; loopback unless you give another.",
)
@click.option("--port", default=8081, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--store",
    "store",
    required=True,
    help="A SQLite file path (the embedded store, created when missing) or a "
    "postgresql://USER@HOST:PORT/DB URL (shared by several instances; the password "
    "best in PGPASSFILE or ~/.pgpass, not in the URL).",
)
@click.option(
    "--max-body-bytes",
    default=4 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(1),
    help="Larger request bodies are refused (413).",
)
@click.option(
    "--read-only",
    is_flag=True,
    help="Serve reads only; every write is refused (422, error code 42205).",
)
@click.option(
    "--users-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Require HTTP basic auth: one USER:PASSWORD a line, the password best as "
    "`contracts registry hash-password` writes it.",
)
@click.option(
    "--bearer-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Require a bearer token: one accepted token a line (with --users-file, either works).",
)
@_handle_errors
def registry_serve(
    host: str,
    port: int,
    store: str,
    max_body_bytes: int,
    read_only: bool,
    users_file: Path | None,
    bearer_token_file: Path | None,
) -> None:
    """Serve the registry until interrupted."""
    from compat_checks.registry.server import serve

    serve(
        store,
        host=host,
        port=port,
        max_body=max_body_bytes,
        read_only=read_only,
        users_file=users_file,
        tokens_file=bearer_token_file,
    )
