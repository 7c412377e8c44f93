"""The no-op cache of `contracts gen`: skip a target when nothing it depends on
changed and its committed output is exactly what it last wrote.

The key covers the image (sources, buf.yaml, buf version), [tool.contracts],
the generator code and templates, and the pinned plugin versions. The output
tree's own digest is checked too, so a hand edit under generated/ is never
mistaken for up to date.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

from codegen import tools
from codegen.gen import tree
from codegen.image import Image
from codegen.workspace import Workspace

_GENERATOR_DIR = Path(__file__).resolve().parent


def key(ws: Workspace, image: Image, target: str) -> str:
    h = hashlib.sha256()
    h.update(f"{target}\0{image.digest}\0".encode())
    h.update(ws.settings.raw.encode() + b"\0")
    for spec in tools.TOOLS:
        h.update(f"{spec.name}={spec.pinned}\0".encode())
    h.update(f"grpcio-tools={metadata.version('grpcio-tools')}\0".encode())
    if ws.settings.templates is not None:
        for source in sorted(ws.settings.templates.rglob("*")):
            if source.is_file():
                h.update(
                    b"override:" + source.relative_to(ws.settings.templates).as_posix().encode()
                )
                h.update(b"\0" + source.read_bytes())
    for source in sorted(_GENERATOR_DIR.rglob("*")):
        if source.is_file() and source.suffix in (".py", ".j2"):
            h.update(source.relative_to(_GENERATOR_DIR).as_posix().encode() + b"\0")
            h.update(source.read_bytes())
    return h.hexdigest()


def _stamp(ws: Workspace, target: str) -> Path:
    return ws.cache_dir / "gen" / f"{target}.json"


def is_fresh(ws: Workspace, image: Image, target: str, out_dir: Path) -> bool:
    try:
        stamp = json.loads(_stamp(ws, target).read_text())
    except (OSError, ValueError):
        return False
    return bool(
        stamp.get("key") == key(ws, image, target) and stamp.get("tree") == tree.digest(out_dir)
    )


def record(ws: Workspace, image: Image, target: str, out_dir: Path) -> None:
    path = _stamp(ws, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"key": key(ws, image, target), "tree": tree.digest(out_dir)})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".stamp-")
    with os.fdopen(fd, "w") as handle:
        handle.write(body)
    os.replace(tmp, path)
