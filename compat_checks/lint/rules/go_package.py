"""Where protoc-gen-go puts a file's code, against the workspace's Go module."""

from __future__ import annotations

import posixpath

from compat_checks.lint.context import LintContext
from compat_checks.lint.registry import Verdict, rule
from contracts_core.descriptors import Element, Kind, option_location
from contracts_core.findings import Severity

_GO_PACKAGE_OPTION = 11  # FileOptions.go_package


@rule(
    "GO_PACKAGE_MISMATCH",
    Kind.FILE,
    severity=Severity.ERROR,
    rationale="protoc-gen-go places and imports a file's code by its go_package; one outside "
    "<go_module>/<file's directory> produces Go that is missing, misplaced or unimportable.",
    fix='Set option go_package = "<go_module>/<directory of the file>;<pkg>v<N>" (go_module '
    "is [tool.contracts] go_module).",
)
def go_package_mismatch(element: Element, ctx: LintContext) -> Verdict:
    if ctx.go_module is None:
        return None
    file = element.file
    directory = posixpath.dirname(file.name)
    expected = posixpath.join(ctx.go_module, directory) if directory else ctx.go_module
    option = ctx.go_packages.get(file.name, "")
    if not option:
        return (
            f"file `{file.name}` has no go_package option: protoc-gen-go refuses it "
            '("unable to determine Go import path"), so Go gets no code for it; '
            f'expected "{expected};<name>"'
        )
    path = option.partition(";")[0]
    if path == expected:
        return None
    if path != ctx.go_module and not path.startswith(ctx.go_module + "/"):
        consequence = (
            f"it is outside Go module {ctx.go_module}, so protoc-gen-go with "
            f'module={ctx.go_module} fails ("generated file does not match prefix")'
        )
    else:
        written = path.removeprefix(ctx.go_module).lstrip("/") or "the module root"
        consequence = (
            f"protoc-gen-go writes the code to {written} instead of the directory that "
            f'mirrors the file, so Go code importing "{expected}" does not build'
        )
    message = (
        f'file `{file.name}`: go_package import path "{path}" is not "{expected}": ' + consequence
    )
    where = option_location(element, _GO_PACKAGE_OPTION)
    return (message, where) if where is not None else message
