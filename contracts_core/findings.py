"""Findings: the one result type of lint, breaking and compatibility checks.

Every output format renders this type; nothing downstream knows which check
produced a finding except through `source` and `rule`. This module is a leaf
(standard library only): a registry service imports it without the toolchain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Audience(StrEnum):
    """Who a breaking change breaks."""

    GO_SOURCE = "go"
    PYTHON_SOURCE = "python"
    JSON = "json"
    WIRE = "wire"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Audience.GO_SOURCE: "Go source",
    Audience.PYTHON_SOURCE: "Python source",
    Audience.JSON: "JSON clients",
    Audience.WIRE: "binary wire",
}


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    column: int
    rule: str
    message: str
    severity: Severity = Severity.ERROR
    source: str = "contracts"  # "buf" or "contracts"
    fix: str = ""
    breaks: tuple[Audience, ...] = field(default=())
    # Audiences a breaking change may or may not break: what decides it is not in
    # the descriptors (how clients use a type, say), so it is neither claimed nor hidden.
    may_break: tuple[Audience, ...] = field(default=())
    # Compatibility findings: the schema path in Confluent's style (`#/Message/1`)
    # and the compatibility modes (`BACKWARD`, ...) that the difference violates.
    path: str = ""
    violates: tuple[str, ...] = field(default=())

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.column, self.rule, self.message)
