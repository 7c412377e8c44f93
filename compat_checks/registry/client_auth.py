"""Credentials for a registry behind basic or bearer auth, from the environment or a
file, never from the command line (argv is visible to every user of the machine).

- `CONTRACTS_REGISTRY_USER_INFO=USER:PASSWORD`: basic auth, as the confluent clients'
  `basic.auth.user.info` spells it;
- `CONTRACTS_REGISTRY_TOKEN=TOKEN`: a bearer token;
- `CONTRACTS_REGISTRY_AUTH_FILE=PATH` (or `--auth-file PATH`): a file whose first line
  is `USER:PASSWORD` or `Bearer TOKEN`.

At most one of them; two are refused rather than one silently winning.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from contracts_core.errors import ConfigError, UsageError

USER_INFO_ENV = "CONTRACTS_REGISTRY_USER_INFO"
TOKEN_ENV = "CONTRACTS_REGISTRY_TOKEN"
AUTH_FILE_ENV = "CONTRACTS_REGISTRY_AUTH_FILE"
_BEARER = "bearer "


@dataclass(frozen=True)
class Credentials:
    header: str  # the Authorization header's value
    source: str  # where they came from, for error messages (never the secret)


def credentials(
    auth_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """The credentials the environment or the auth file gives, or None."""
    env = os.environ if environ is None else environ
    if auth_file is None and env.get(AUTH_FILE_ENV):
        auth_file = Path(env[AUTH_FILE_ENV])
    given = [
        name
        for name, present in (
            (USER_INFO_ENV, bool(env.get(USER_INFO_ENV))),
            (TOKEN_ENV, bool(env.get(TOKEN_ENV))),
            (f"the auth file {auth_file}", auth_file is not None),
        )
        if present
    ]
    if len(given) > 1:
        raise UsageError(f"registry credentials given twice ({' and '.join(given)}); give one")
    if env.get(USER_INFO_ENV):
        return _basic(env[USER_INFO_ENV], USER_INFO_ENV)
    if env.get(TOKEN_ENV):
        return Credentials(f"Bearer {env[TOKEN_ENV].strip()}", f"the bearer token in {TOKEN_ENV}")
    if auth_file is not None:
        return _from_file(auth_file)
    return None


def _basic(user_info: str, source: str) -> Credentials:
    user, sep, password = user_info.strip().partition(":")
    if not sep or not user:
        raise ConfigError(f"{source}: basic auth must be USER:PASSWORD")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return Credentials(f"Basic {token}", f"basic auth for user {user!r} from {source}")


def _from_file(path: Path) -> Credentials:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise ConfigError(f"registry auth file {path}: cannot read: {reason}") from None
    line = text.splitlines()[0].strip() if text.strip() else ""
    if not line:
        raise ConfigError(
            f"registry auth file {path}: empty; write USER:PASSWORD or Bearer TOKEN on line 1"
        )
    if line.lower().startswith(_BEARER):
        token = line[len(_BEARER) :].strip()
        if not token:
            raise ConfigError(f"registry auth file {path}:1: `Bearer` without a token")
        return Credentials(f"Bearer {token}", f"the bearer token in {path}")
    return _basic(line, f"{path}:1")
