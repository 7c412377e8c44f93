"""Rules about `contracts:ignore` comments themselves; the engine raises them."""

from __future__ import annotations

from compat_checks.lint.registry import rule
from contracts_core.descriptors import Element
from contracts_core.findings import Severity

_NO_KINDS: tuple[()] = ()


def _raised_by_engine(element: Element, ctx: object) -> str | None:
    return None


rule(
    "SUPPRESSION_REASON_MISSING",
    _NO_KINDS,
    severity=Severity.ERROR,
    rationale="A suppression without a reason hides a hazard with no record of why it is safe.",
    fix="Write `// contracts:ignore RULE_ID why this is safe here`.",
)(_raised_by_engine)
rule(
    "SUPPRESSION_UNKNOWN_RULE",
    _NO_KINDS,
    severity=Severity.ERROR,
    rationale="A suppression naming no rule (often a typo) suppresses nothing.",
    fix="Use a rule ID from `contracts rules`.",
)(_raised_by_engine)
rule(
    "SUPPRESSION_UNUSED",
    _NO_KINDS,
    severity=Severity.WARNING,
    rationale="A suppression that no longer matches a finding is stale and misleads readers.",
    fix="Remove the contracts:ignore comment.",
)(_raised_by_engine)
rule(
    "SUPPRESSION_PATH_UNUSED",
    _NO_KINDS,
    severity=Severity.WARNING,
    rationale="An ignore path in [tool.contracts.lint] that matches no file (a typo, or a "
    "folder since moved) ignores nothing, while it reads as if it did.",
    fix="Correct the path (relative to the workspace root) or remove it from "
    "[tool.contracts.lint] ignore.",
)(_raised_by_engine)
