"""Exported Go names declared twice in one Go package.

protoc-gen-go, protoc-gen-go-grpc and our typed clients derive identifiers from
proto names (`JobsClient`, `Jobs_ServiceDesc`, `Order_Card`, `RetryPolicy`...),
and neither plugin checks them against each other: a message named like a gRPC
identifier generates fine and then fails `go build` with "redeclared in this
block". The list of names is contracts_core.golang's, which the Go client
generator checks too.
"""

from __future__ import annotations

from compat_checks.lint.context import LintContext
from compat_checks.lint.registry import Verdict, rule
from compat_checks.lint.rules._common import per_run
from contracts_core.descriptors import Element, Kind
from contracts_core.findings import Severity
from contracts_core.golang import GoDecl, go_collisions, package_decls

# (proto file, source path) -> [(its declaration, the earlier one of that name)]
_Collisions = dict[tuple[str, tuple[int, ...]], list[tuple[GoDecl, GoDecl]]]


def _collisions(ctx: LintContext) -> _Collisions:
    def compute(c: LintContext) -> _Collisions:
        files = {e.file.name: e.file for e in c.elements if e.kind is Kind.FILE}
        out: _Collisions = {}
        for decls in package_decls(files.values(), c.go_packages).values():
            for decl, earlier in go_collisions(decls):
                out.setdefault((decl.file, decl.path), []).append((decl, earlier))
        return out

    return per_run(ctx, "go_collisions", compute)


@rule(
    "GO_NAME_COLLISION",
    (Kind.MESSAGE, Kind.ENUM, Kind.ENUM_VALUE, Kind.FIELD, Kind.SERVICE, Kind.METHOD),
    severity=Severity.ERROR,
    rationale="protoc-gen-go, protoc-gen-go-grpc and the typed Go clients derive exported "
    "identifiers from proto names without checking them against each other; two of one name "
    "in a Go package make it fail `go build` (redeclared in this block).",
    fix="Rename the element so its Go name is free, e.g. message `JobsClient` -> "
    "`JobsClientInfo`, `RetryPolicy` -> `JobRetryPolicy`.",
)
def go_name_collision(element: Element, ctx: LintContext) -> Verdict:
    found = _collisions(ctx).get((element.file.name, element.path))
    if not found:
        return None
    clashes = "; ".join(f"{decl.own()} is also {earlier.describe()}" for decl, earlier in found)
    what = element.kind.value.replace("_", " ")
    return f"{what} `{element.full_name}`: {clashes}, so the Go package does not compile"
