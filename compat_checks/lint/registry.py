"""The rule registry: a rule is one decision function plus its ID and docs.

Adding a rule is one decorated function in `compat_checks/lint/rules/`, one
fixture folder in `tests/fixtures/lint/<RULE_ID>/` and its expected findings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from contracts_core.descriptors import Element, Kind, Location
from contracts_core.findings import Severity

if TYPE_CHECKING:
    from compat_checks.lint.context import LintContext

# A check returns the finding's message, or None when the element is fine. It may
# return (message, location) to point at a part of the element, e.g. an option.
Verdict = str | tuple[str, Location] | None
Check = Callable[[Element, "LintContext"], Verdict]


@dataclass(frozen=True)
class Rule:
    id: str
    kinds: frozenset[Kind]
    severity: Severity
    rationale: str  # one line: why the hazard matters across languages
    fix: str  # one line: what to do instead
    check: Check


RULES: dict[str, Rule] = {}


def rule(
    id: str,
    kinds: Kind | tuple[Kind, ...],
    *,
    severity: Severity,
    rationale: str,
    fix: str,
) -> Callable[[Check], Check]:
    """Register a check under an upper-snake rule ID."""
    kind_set = frozenset(kinds if isinstance(kinds, tuple) else (kinds,))

    def register(check: Check) -> Check:
        if id in RULES:
            raise RuntimeError(f"duplicate lint rule {id}")
        RULES[id] = Rule(id, kind_set, severity, rationale, fix, check)
        return check

    return register


def all_rules() -> dict[str, Rule]:
    # Importing the rules package registers every rule exactly once.
    import compat_checks.lint.rules  # noqa: F401

    return RULES
