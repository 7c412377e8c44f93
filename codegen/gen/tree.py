"""Comparing a freshly generated tree with the committed one, and writing generators' files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from contracts_core import sources
from contracts_core.errors import ToolError


@dataclass
class TreeDiff:
    stale: list[str] = field(default_factory=list)  # present, with other bytes
    missing: list[str] = field(default_factory=list)  # should exist, does not
    extra: list[str] = field(default_factory=list)  # exists, no longer generated

    @property
    def changed(self) -> bool:
        return bool(self.stale or self.missing or self.extra)


def files(root: Path) -> dict[str, Path]:
    """Every file of a tree by relative name, tool droppings (__pycache__, egg-info) excluded."""
    return sources.tree_files(root)


def digest(root: Path) -> str:
    """One hash over a tree's file names and bytes (tool droppings excluded)."""
    # Shared with the no-op stamp, which checks trees without importing this package.
    return sources.tree_digest(root)


def compare(new: Path, old: Path) -> TreeDiff:
    fresh, current = files(new), files(old)
    diff = TreeDiff()
    for rel in sorted(fresh):
        if rel not in current:
            diff.missing.append(rel)
        elif fresh[rel].read_bytes() != current[rel].read_bytes():
            diff.stale.append(rel)
    diff.extra = sorted(set(current) - set(fresh))
    return diff


def droppings(root: Path) -> list[str]:
    """Files or folders a generator wrote under names that tree walks skip as tools'
    droppings (a proto package called `build`, say): they would go unchecked."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for name in sorted(dirnames + filenames):
            if sources.is_dropping(name, top=rel == Path(".")):
                found.append((rel / name).as_posix())
        dirnames[:] = [d for d in dirnames if not sources.is_dropping(d, top=rel == Path("."))]
    return sorted(found)


def write_files(out: Path, files: dict[str, str], writer: str) -> None:
    """Write a generator's files under out, as protoc would: never outside it, and
    never a file another generator (or this one) already wrote."""
    root = out.resolve()
    for rel, content in files.items():
        path = (out / rel).resolve()
        if not path.is_relative_to(root):
            raise ToolError(f"{writer} tried to write outside its folder: {rel}")
        if path.exists():
            raise ToolError(f"{writer} wrote {rel}, which another generator already wrote")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
