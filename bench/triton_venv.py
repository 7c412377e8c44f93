"""The Python that runs NVIDIA Triton through PyTriton for bench/inference_servers.py.

PyTriton cannot share the toolchain's venv: tritonclient, which it requires, pins
protobuf below 7 and the toolchain pins protobuf 7. So the benchmark makes its own venv,
.venv/triton, once (stamped by bench/triton-requirements.txt), from the same base
Python, and lets it import torch from the toolchain's venv through a .pth file
(torch 2.15.0 with its CUDA libraries is 5 GB; one copy is enough). Its own
site-packages come first on sys.path, so its protobuf wins there.

Triton's Python backend runs a stub process that links libpython3.X.so: the base Python
must be built with a shared libpython, and that library must be the one the stub
loads, so Triton starts with the base Python's LIBDIR first on LD_LIBRARY_PATH (without
it, a pyenv Python's stdlib meets the system's libpython of another patch release and
the model fails to load).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "bench" / "triton-requirements.txt"
VENV = ROOT / ".venv" / "triton"
STAMP = VENV / ".bench-stamp"
INSTALL_TIMEOUT_S = 1800


def base_python() -> Path:
    """The interpreter the toolchain's venv was made from, refused without libpython.so."""
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        raise SystemExit(
            f"{sys.base_prefix}: this Python has no shared libpython (Py_ENABLE_SHARED=0), "
            "which Triton's Python backend stub links; make the venv from a Python built "
            "with --enable-shared (such as Debian's python3.11)"
        )
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    python = Path(sys.base_prefix) / "bin" / f"python{version}"
    if not python.is_file():
        raise SystemExit(f"{python}: the base interpreter of {sys.prefix} is missing")
    return python


def triton_python() -> Path:
    """The Triton venv's interpreter, made (a minute, once) when missing or stale."""
    base = base_python()
    toolchain_site = sysconfig.get_path("purelib")
    key = hashlib.sha256(
        REQUIREMENTS.read_bytes() + f"\n{base}\n{toolchain_site}".encode()
    ).hexdigest()
    python = VENV / "bin" / "python"
    if STAMP.is_file() and STAMP.read_text() == key and python.is_file():
        return python
    print(f"making {VENV} for PyTriton (once)", file=sys.stderr, flush=True)
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([str(base), "-m", "venv", str(VENV)], check=True, timeout=300)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "-r", str(REQUIREMENTS)],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    # After the venv's own site-packages on sys.path: torch from the toolchain's venv.
    (Path(site) / "zz_toolchain_venv.pth").write_text(toolchain_site + "\n")
    STAMP.write_text(key)
    return python


def triton_env() -> dict[str, str]:
    """The environment Triton starts with: the base Python's libpython found first."""
    libdir = str(sysconfig.get_config_var("LIBDIR"))
    path = os.environ.get("LD_LIBRARY_PATH")
    return {**os.environ, "LD_LIBRARY_PATH": f"{libdir}:{path}" if path else libdir}
