"""Compatibility modes with Confluent Schema Registry's meanings.

BACKWARD: the new schema reads data written with the old one. FORWARD: the old
schema reads data written with the new one. FULL: both. A plain mode compares
with the latest registered version only; a _TRANSITIVE one with every version.
"""

from __future__ import annotations

from enum import Enum, StrEnum

from contracts_core.errors import UsageError


class Direction(Enum):
    """Which schema writes and which reads in one comparison."""

    BACKWARD = "backward"  # the old schema writes, the new one reads
    FORWARD = "forward"  # the new schema writes, the old one reads


class Mode(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def directions(self) -> tuple[Direction, ...]:
        if self is Mode.NONE:
            return ()
        if self.value.startswith("BACKWARD"):
            return (Direction.BACKWARD,)
        if self.value.startswith("FORWARD"):
            return (Direction.FORWARD,)
        return (Direction.BACKWARD, Direction.FORWARD)

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @classmethod
    def parse(cls, text: str) -> Mode:
        """A mode as a user or a client spells it (case-insensitive)."""
        try:
            return cls(text.strip().upper())
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise UsageError(f"unknown compatibility mode {text!r}; use one of {valid}") from None


def violated(direction: Direction, latest: bool) -> tuple[Mode, ...]:
    """The modes that an incompatibility in this direction violates, found against the
    latest version or against an older one (which only transitive modes look at)."""
    return tuple(m for m in Mode if direction in m.directions and (latest or m.transitive))
