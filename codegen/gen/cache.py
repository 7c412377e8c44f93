"""The no-op cache of `contracts gen`: skip a target when nothing it depends on
changed and its committed output is exactly what it last wrote.

The key covers the image (sources, buf.yaml, buf version), [tool.contracts],
the generator code and templates (every file under codegen/gen, and a
[tool.contracts] templates override folder), and the pinned plugin versions. The output
tree's own digest is checked too, so a hand edit under generated/ is never
mistaken for up to date.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

from codegen import noop_stamp
from codegen.gen import tree
from contracts_core import sources, tools
from contracts_core.image import Image
from contracts_core.workspace import Workspace

_GENERATOR_DIR = Path(__file__).resolve().parent


def key(ws: Workspace, image: Image, target: str) -> str:
    h = hashlib.sha256()
    h.update(f"{target}\0{image.digest}\0".encode())
    h.update(ws.settings.raw.encode() + b"\0")
    for spec in tools.TOOLS:
        h.update(f"{spec.name}={spec.pinned}\0".encode())
    h.update(f"grpcio-tools={metadata.version('grpcio-tools')}\0".encode())
    if ws.settings.templates is not None:
        # Every file: the template loader reads whatever the override folder holds.
        override = sources.sources_digest(ws.settings.templates, skip_droppings=False)
        h.update(f"override={override}\0".encode())
    # Every source file of the generators, whatever its suffix (templates too).
    h.update(f"generator={sources.sources_digest(_GENERATOR_DIR)}\0".encode())
    return h.hexdigest()


def _stamp(ws: Workspace, target: str) -> Path:
    # The no-op stamp re-reads this file without importing us: one layout for both.
    return noop_stamp.cache_stamp_path(ws.root, target)


def is_fresh(ws: Workspace, image: Image, target: str, out_dir: Path) -> bool:
    try:
        stamp = json.loads(_stamp(ws, target).read_text())
    except (OSError, ValueError):
        return False
    return bool(
        stamp.get("key") == key(ws, image, target) and stamp.get("tree") == tree.digest(out_dir)
    )


def record(ws: Workspace, image: Image, target: str, out_dir: Path) -> None:
    body = json.dumps({"key": key(ws, image, target), "tree": tree.digest(out_dir)})
    sources.write_atomically(_stamp(ws, target), body)
