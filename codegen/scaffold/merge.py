"""Three-way merge of one file with `git merge-file`: the recorded render is the base,
the user's file is ours, the new render is theirs. Conflicts get git's standard markers."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from contracts_core.errors import ToolError

_TIMEOUT_S = 60


@dataclass(frozen=True)
class Merged:
    text: str
    conflicts: int


def merge(path: str, yours: str, base: str, new: str) -> Merged:
    git = shutil.which("git")
    if git is None:
        raise ToolError("--update merges with `git merge-file`, and git is not on PATH")
    with tempfile.TemporaryDirectory(prefix="contracts-merge-") as tmp:
        files = []
        for label, text in (("yours", yours), ("base", base), ("new", new)):
            file = Path(tmp) / label
            file.write_text(text, encoding="utf-8")
            files.append(str(file))
        labels = [f"{path} (yours)", f"{path} (last render)", f"{path} (new render)"]
        try:
            proc = subprocess.run(
                [git, "merge-file", "-p", *(a for lb in labels for a in ("-L", lb)), *files],
                capture_output=True,
                timeout=_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ToolError(f"git merge-file took over {_TIMEOUT_S} s on {path}") from None
    # The exit status is the number of conflicts; negative (>127 here) on an error.
    if proc.returncode < 0 or proc.returncode > 127:
        raise ToolError(f"git merge-file failed on {path}: {proc.stderr.decode().strip()}")
    return Merged(proc.stdout.decode("utf-8"), proc.returncode)
