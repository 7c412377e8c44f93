"""`// contracts:ignore RULE_ID reason` comments on an element or an enclosing one.

The directive must open a comment line, so prose that mentions it is not one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contracts_core.descriptors import Element

DIRECTIVE_BYTES = b"contracts:ignore"
_DIRECTIVE = re.compile(r"^[ \t]*contracts:ignore(?P<rest>[^\n]*)", re.MULTILINE)


@dataclass(frozen=True)
class Suppression:
    rule: str
    reason: str
    element: Element


def parse(element: Element) -> list[Suppression]:
    """The suppressions written in an element's own leading or trailing comments."""
    found = []
    for match in _DIRECTIVE.finditer(element.location.comments):
        words = match.group("rest").strip().split(maxsplit=1)
        rule = words[0] if words else ""
        reason = words[1].strip() if len(words) > 1 else ""
        found.append(Suppression(rule, reason, element))
    return found
