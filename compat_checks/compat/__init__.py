"""Protobuf schema compatibility as Confluent Schema Registry judges it, over descriptors.

`check(new, previous, mode)` returns a finding per incompatibility;
`differences(writer, reader)` every difference, compatible ones included.
Pure Python over the one descriptor model: no buf, no subprocess.
"""

from .check import Policy, check, is_compatible
from .diff import differences
from .differences import Difference, DifferenceType
from .modes import Direction, Mode
from .schema import Schema

__all__ = [
    "Difference",
    "DifferenceType",
    "Direction",
    "Mode",
    "Policy",
    "Schema",
    "check",
    "differences",
    "is_compatible",
]
