"""The no-op cache of `contracts gen`: skip a target when nothing it depends on
changed and its committed output is exactly what it last wrote.

What the output depends on has one definition, `noop_stamp.fingerprint` (the
sources, buf's config, settings, every toolchain source file the generators
can import, a templates override, the tools and installed distributions); the
key is that fingerprint with the target and the image. The output tree's own
digest is checked too, so a hand edit under generated/ is never mistaken for
up to date.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from codegen import noop_stamp
from codegen.gen import tree
from contracts_core import sources
from contracts_core.image import Image
from contracts_core.workspace import Workspace


def key(image: Image, target: str, inputs: str) -> str:
    """The cache key of one target, given noop_stamp's fingerprint of the inputs."""
    return hashlib.sha256(f"{target}\0{image.digest}\0{inputs}".encode()).hexdigest()


def _stamp(ws: Workspace, target: str) -> Path:
    # The no-op stamp re-reads this file without importing us: one layout for both.
    return noop_stamp.cache_stamp_path(ws.root, target)


def is_fresh(ws: Workspace, image: Image, target: str, out_dir: Path, inputs: str) -> bool:
    try:
        stamp = json.loads(_stamp(ws, target).read_text())
    except (OSError, ValueError):
        return False
    return bool(
        stamp.get("key") == key(image, target, inputs) and stamp.get("tree") == tree.digest(out_dir)
    )


def record(ws: Workspace, image: Image, target: str, out_dir: Path, inputs: str) -> None:
    body = json.dumps({"key": key(image, target, inputs), "tree": tree.digest(out_dir)})
    sources.write_atomically(_stamp(ws, target), body)
