"""Schemas for the compatibility tests, compiled by the real buf into images.

Each version of a schema is its own small workspace (versions share file and
type names, so they cannot share one image); identical sources compile once.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

from compat_checks.compat import Schema
from contracts_core.image import Image, build_image

HEADER = 'syntax = "proto3";\npackage t.v1;\n'


def p3(body: str) -> str:
    """A proto3 file of package t.v1 with this body."""
    return HEADER + textwrap.dedent(body).lstrip("\n")


class Compiler:
    """Compiles {path: source} trees with buf under one folder, each tree once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._images: dict[str, Image] = {}

    def image(self, files: dict[str, str]) -> Image:
        key = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()[:16]
        if key not in self._images:
            tree = self.root / key
            for rel, body in {"buf.yaml": "version: v2\n", **files}.items():
                path = tree / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
            out = tree / "image.binpb"
            build_image(tree, out)
            self._images[key] = Image(
                path=out, targets={name: name for name in files if name.endswith(".proto")}
            )
        return self._images[key]

    def schema(self, files: dict[str, str] | str, root: str = "a.proto", label: str = "") -> Schema:
        """A schema rooted at `root`; a bare string is the whole of a.proto."""
        tree = {"a.proto": files} if isinstance(files, str) else files
        return Schema.from_image(self.image(tree), root, label)
