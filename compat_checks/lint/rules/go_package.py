"""Whether protoc-gen-go can generate a file's code into the workspace's Go module.

`contracts gen` runs protoc-gen-go with `module=<go_module>`: each file's code
is written to its go_package import path with the module prefix stripped, so any
import path inside the module builds, whichever folder it names. What fails is a
file protoc-gen-go cannot place at all, one it cannot place inside the module,
and one Go import path given two package names.
"""

from __future__ import annotations

from compat_checks.lint.context import LintContext
from compat_checks.lint.registry import Verdict, rule
from compat_checks.lint.rules._common import per_run
from contracts_core.descriptors import Element, Kind, option_location
from contracts_core.findings import Severity
from contracts_core.golang import go_package

_GO_PACKAGE_OPTION = 11  # FileOptions.go_package


def _names_by_import_path(ctx: LintContext) -> dict[str, dict[str, str]]:
    """Go import path -> Go package name -> the first file (by name) declaring it."""

    def compute(c: LintContext) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        files = sorted((e.file for e in c.elements if e.kind is Kind.FILE), key=lambda f: f.name)
        for file in files:
            option = c.go_packages.get(file.name, "")
            if option:
                pkg = go_package(file.name, option)
                out.setdefault(pkg.import_path, {}).setdefault(pkg.name, file.name)
        return out

    return per_run(ctx, "go_package_names", compute)


@rule(
    "GO_PACKAGE_MISMATCH",
    Kind.FILE,
    severity=Severity.ERROR,
    rationale="protoc-gen-go with module=<go_module> refuses a file without go_package, one "
    "whose import path is outside the module, and one import path given two package names, "
    "so the Go target generates nothing; any import path inside the module builds.",
    fix='Set option go_package = "<go_module>/<path>;<pkg>" inside [tool.contracts] go_module, '
    "with one package name per import path.",
)
def go_package_mismatch(element: Element, ctx: LintContext) -> Verdict:
    if ctx.go_module is None:
        return None
    file = element.file
    module = ctx.go_module
    option = ctx.go_packages.get(file.name, "")
    if not option:
        return (
            f"file `{file.name}` has no go_package option: protoc-gen-go refuses it "
            '("unable to determine Go import path"), so `contracts gen` writes no Go code; '
            f'add option go_package = "{module}/<path>;<name>"'
        )
    pkg = go_package(file.name, option)
    if pkg.import_path != module and not pkg.import_path.startswith(module + "/"):
        message = (
            f'file `{file.name}`: go_package import path "{pkg.import_path}" is outside Go '
            f'module {module}: protoc-gen-go with module={module} fails ("generated file '
            'does not match prefix"), so `contracts gen` writes no Go code'
        )
    else:
        names = _names_by_import_path(ctx)[pkg.import_path]
        others = {name: other for name, other in names.items() if name != pkg.name}
        if not others:
            return None
        name, other = sorted(others.items())[0]
        message = (
            f'file `{file.name}`: go_package gives import path "{pkg.import_path}" the Go '
            f"package name `{pkg.name}` but `{other}` names it `{name}`: protoc-gen-go fails "
            '("inconsistent names"), so `contracts gen` writes no Go code'
        )
    where = option_location(element, _GO_PACKAGE_OPTION)
    return (message, where) if where is not None else message
