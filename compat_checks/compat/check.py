"""A new schema against a subject's registered versions, under a mode: the findings.

Each comparison runs in the directions the mode asks (BACKWARD: the old
version writes and the new schema reads; FORWARD: the reverse) against the
latest version, or against every version for a _TRANSITIVE mode. A
difference found against several versions is one finding naming them all,
with every mode it violates, placed on the new schema's element where one
exists (else the element that lacks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from contracts_core.descriptors import Element
from contracts_core.findings import Audience, Finding

from .diff import differences
from .differences import Difference, DifferenceType, describe
from .modes import Direction, Mode, violated
from .schema import Schema

RULE_SOURCE = "contracts"


class Policy(StrEnum):
    """WIRE: Confluent's verdicts. JSON: those, and renames that break proto3 JSON."""

    WIRE = "wire"
    JSON = "json"

    def breaks(self, kind: DifferenceType) -> bool:
        return kind.breaks_json if self is Policy.JSON else kind.breaks_wire


@dataclass
class _Found:
    difference: Difference
    direction: Direction
    versions: list[str]
    modes: set[Mode]


def check(
    new: Schema,
    previous: Sequence[Schema],
    mode: Mode,
    policy: Policy = Policy.WIRE,
) -> list[Finding]:
    """Findings for every incompatibility of `new` with `previous` (oldest first)."""
    if not previous or mode is Mode.NONE:
        return []
    against = list(enumerate(previous)) if mode.transitive else [(len(previous) - 1, previous[-1])]
    found: dict[tuple[Direction, DifferenceType, str], _Found] = {}
    for index, old in against:
        latest = index == len(previous) - 1
        label = old.label or f"version {index + 1}"
        for direction in mode.directions:
            writer, reader = (old, new) if direction is Direction.BACKWARD else (new, old)
            for diff in differences(writer, reader):
                if not policy.breaks(diff.type):
                    continue
                key = (direction, diff.type, diff.path)
                entry = found.get(key)
                if entry is None:
                    entry = found[key] = _Found(diff, direction, [], set())
                if label not in entry.versions:
                    entry.versions.append(label)
                entry.modes.update(violated(direction, latest))
    return sorted(_finding(new, entry, mode) for entry in found.values())


def _finding(new: Schema, entry: _Found, mode: Mode) -> Finding:
    diff = entry.difference
    # The new schema is the reader going backward and the writer going forward.
    element = diff.update if entry.direction is Direction.BACKWARD else diff.original
    if element is None:
        element = new.file
    line, column = _position(element)
    who = (
        f"the new schema cannot read data written with {_versions(entry.versions)}"
        if entry.direction is Direction.BACKWARD
        else f"{_versions(entry.versions)} cannot read data written with the new schema"
    )
    detail = f" ({diff.detail})" if diff.detail else ""
    modes = tuple(m.value for m in Mode if m in entry.modes)
    return Finding(
        file=new.display_path(element),
        line=line,
        column=column,
        rule=diff.type.value,
        message=(
            f"{diff.path}: {describe(diff.type)}{detail}: {who}; "
            f"{mode.value} fails (violates {', '.join(modes)})"
        ),
        source=RULE_SOURCE,
        breaks=(Audience.WIRE,) if diff.type.breaks_wire else (Audience.JSON,),
        path=diff.path,
        violates=modes,
    )


def _position(element: Element) -> tuple[int, int]:
    location = element.location
    return location.line, location.column


def _versions(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"


def is_compatible(
    new: Schema, previous: Sequence[Schema], mode: Mode, policy: Policy = Policy.WIRE
) -> bool:
    return not check(new, previous, mode, policy)
