"""The answers file: what `contracts new service` rendered into a service, so that
`--update` can merge three ways (the recorded render is the base).

It records the template and its version, the toolchain's version, a digest of
the contract, the answers, the service's RPCs, and the full text of each
rendered file. A checksum over the rest tells a hand-edited file from ours: an
update from an edited base would merge against text we never wrote.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts_core.descriptors import Model
from contracts_core.errors import UsageError

FILE_NAME = ".contracts-scaffold.json"
_FORMAT = 1
_NOTE = (
    "Written by `contracts new service`; `--update` merges against the renders recorded "
    "here. Do not edit: an edited file is refused."
)


@dataclass
class Answers:
    name: str
    service: str
    template: str
    template_version: str
    toolchain: str
    contract_digest: str
    methods: list[str]
    # Service-relative posix path -> the text last rendered into it (the merge base).
    files: dict[str, str] = field(default_factory=dict)

    def to_text(self) -> str:
        body = self._body()
        return json.dumps({**body, "checksum": _checksum(body)}, indent=2, sort_keys=True) + "\n"

    def _body(self) -> dict[str, Any]:
        return {
            "note": _NOTE,
            "format": _FORMAT,
            "answers": {"name": self.name, "service": self.service, "template": self.template},
            "template_version": self.template_version,
            "toolchain": self.toolchain,
            "contract_digest": self.contract_digest,
            "methods": list(self.methods),
            "files": dict(sorted(self.files.items())),
        }


def _checksum(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read(folder: Path) -> Answers | None:
    """The folder's answers, None without a file; a damaged or edited one is an error."""
    path = folder / FILE_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a readable answers file ({exc}); {_REMEDY}") from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise UsageError(f"{path}: not an answers file of format {_FORMAT}; {_REMEDY}")
    checksum = data.pop("checksum", None)
    if checksum != _checksum(data):
        raise UsageError(
            f"{path}: edited by hand (its checksum does not match), so the recorded render "
            f"cannot serve as the merge base; {_REMEDY}"
        )
    try:
        answers = data["answers"]
        return Answers(
            name=_str(answers["name"]),
            service=_str(answers["service"]),
            template=_str(answers["template"]),
            template_version=_str(data["template_version"]),
            toolchain=_str(data["toolchain"]),
            contract_digest=_str(data["contract_digest"]),
            methods=[_str(m) for m in data["methods"]],
            files={_str(k): _str(v) for k, v in data["files"].items()},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: missing or malformed entry {exc}; {_REMEDY}") from None


_REMEDY = (
    "restore it from version control, or re-create the service with --force "
    "(which overwrites your changes)"
)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(repr(value))
    return value


def contract_digest(model: Model, file: str) -> str:
    """A digest of the service's file and everything it imports, comments included."""
    digest = hashlib.sha256()
    seen: set[str] = set()
    pending = [file]
    while pending:
        name = pending.pop()
        if name in seen or name not in model.files:
            continue
        seen.add(name)
        pending.extend(model.files[name].dependency)
    for name in sorted(seen):
        digest.update(name.encode() + b"\0")
        digest.update(model.files[name].SerializeToString(deterministic=True))
    return digest.hexdigest()
