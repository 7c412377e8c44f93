"""Optional authentication: HTTP basic against a users file, bearer tokens against a
tokens file, or either when both are given. Secrets come from files only, never
from the command line, where `ps` and shell history would show them.

Users file: one `USER:PASSWORD` a line (the password is everything after the first
colon). Tokens file: one token a line. In both, blank lines and lines starting
with `#` are skipped.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from contracts_core.errors import UsageError

REALM = "contracts-registry"


@dataclass(frozen=True)
class Credentials:
    # Kept out of repr, so no log line or traceback prints a secret.
    users: Mapping[str, str] = field(repr=False)
    tokens: tuple[str, ...] = field(repr=False)

    @classmethod
    def load(cls, users_file: Path | None, tokens_file: Path | None) -> Credentials | None:
        """The credentials the files hold; None when neither is given (no auth)."""
        if users_file is None and tokens_file is None:
            return None
        users: dict[str, str] = {}
        if users_file is not None:
            for where, line in _lines(users_file, "--users-file"):
                user, colon, password = line.partition(":")
                if not colon or not user or not password:
                    raise UsageError(f"{where}: expected USER:PASSWORD")
                if user in users:
                    raise UsageError(f"{where}: user {user!r} is listed twice")
                users[user] = password
        tokens = tuple(line.strip() for _, line in _lines(tokens_file, "--bearer-token-file"))
        return cls(users, tokens)

    def challenge(self) -> str:
        schemes = [f'Basic realm="{REALM}"'] if self.users else []
        return ", ".join([*schemes, *([f'Bearer realm="{REALM}"'] if self.tokens else [])])

    def admits(self, authorization: str | None) -> bool:
        scheme, _, value = (authorization or "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "basic" and self.users:
            try:
                user, colon, password = (
                    base64.b64decode(value, validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                return False
            expected = self.users.get(user)
            # Compared even for an unknown user, so timing does not tell users apart.
            match = hmac.compare_digest(
                password.encode(), (expected if expected is not None else "\0").encode()
            )
            return bool(colon) and expected is not None and match
        if scheme.lower() == "bearer" and self.tokens:
            found = False
            for token in self.tokens:  # every one compared: no early exit to time
                found |= hmac.compare_digest(value.encode(), token.encode())
            return found
        return False


def _lines(path: Path | None, option: str) -> Iterator[tuple[str, str]]:
    if path is None:
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{option} {path}: cannot read it: {exc}") from None
    found = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            found = True
            yield f"{path}:{number}", line
    if not found:
        raise UsageError(f"{option} {path}: the file lists nothing; nobody could sign in")
