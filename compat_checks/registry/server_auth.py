"""Optional authentication: HTTP basic against a users file, bearer tokens against a
tokens file, or either when both are given. Secrets come from files only, never
from the command line, where `ps` and shell history would show them.

Users file: one `USER:PASSWORD` a line (the password is everything after the first
colon), where the password is best a hash from `contracts registry hash-password`:
`USER:scrypt:N:R:P:SALT:DIGEST` (scrypt's cost parameters, then the salt and the
derived key in base64), so the file gives away no password. Tokens file: one token
a line. In both, blank lines and lines starting with `#` are skipped.

Checking a hash costs scrypt's work (tens of milliseconds, in a thread, off the event
loop); a password that matched is remembered as an HMAC under a key made at start-up,
so a client that sends the same credentials with every request pays it once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from contracts_core.errors import UsageError

REALM = "contracts-registry"
HASH_SCHEME = "scrypt"
# scrypt's cost for new hashes: 2^14 rounds, blocks of 8 (16 MiB and ~50 ms a check
# here), the parameters Python's docs and OWASP's minimum agree on.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SALT_BYTES, _DIGEST_BYTES = 16, 32
# hashlib.scrypt refuses to use more memory than this unless told (128 * N * r bytes).
_SCRYPT_MEMORY = 64 * 1024 * 1024


@dataclass(frozen=True)
class PasswordHash:
    """A users-file password as `scrypt:N:R:P:SALT:DIGEST`."""

    n: int
    r: int
    p: int
    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)

    @classmethod
    def parse(cls, text: str, where: str) -> PasswordHash:
        parts = text.split(":")
        try:
            if len(parts) != 6 or parts[0] != HASH_SCHEME:
                raise ValueError
            n, r, p = (int(x) for x in parts[1:4])
            salt = base64.b64decode(parts[4], validate=True)
            digest = base64.b64decode(parts[5], validate=True)
            if n < 2 or n & (n - 1) or r < 1 or p < 1 or not salt or not digest:
                raise ValueError
        except (ValueError, binascii.Error):
            raise UsageError(
                f"{where}: a password starting with {HASH_SCHEME}: must be a whole hash "
                f"from `contracts registry hash-password` ({HASH_SCHEME}:N:R:P:SALT:DIGEST)"
            ) from None
        return cls(n, r, p, salt, digest)

    @classmethod
    def of(cls, password: str) -> PasswordHash:
        """A new hash of `password`, with a fresh salt and today's cost."""
        salt = secrets.token_bytes(_SALT_BYTES)
        return cls(SCRYPT_N, SCRYPT_R, SCRYPT_P, salt, _DIGEST_BYTES * b"\0").derived(password)

    def derived(self, password: str) -> PasswordHash:
        """This hash's parameters and salt, the digest that of `password`."""
        digest = hashlib.scrypt(
            password.encode(),
            salt=self.salt,
            n=self.n,
            r=self.r,
            p=self.p,
            maxmem=_SCRYPT_MEMORY,
            dklen=len(self.digest),
        )
        return PasswordHash(self.n, self.r, self.p, self.salt, digest)

    def matches(self, password: str) -> bool:
        return hmac.compare_digest(self.derived(password).digest, self.digest)

    def __str__(self) -> str:
        salt, digest = (base64.b64encode(b).decode() for b in (self.salt, self.digest))
        return f"{HASH_SCHEME}:{self.n}:{self.r}:{self.p}:{salt}:{digest}"


def hash_password(password: str) -> str:
    """The users-file form of `password`: `scrypt:N:R:P:SALT:DIGEST`."""
    if not password:
        raise UsageError("the password is empty")
    return str(PasswordHash.of(password))


@dataclass(frozen=True)
class Credentials:
    # Kept out of repr, so no log line or traceback prints a secret.
    users: Mapping[str, str | PasswordHash] = field(repr=False)
    tokens: tuple[str, ...] = field(repr=False)
    # Per hashed user, the HMAC of the password that last matched (see the docstring).
    _verified: dict[str, bytes] = field(default_factory=dict, init=False, repr=False, compare=False)
    _key: bytes = field(
        default_factory=lambda: secrets.token_bytes(32), init=False, repr=False, compare=False
    )
    # Checked for unknown users when any password is hashed (made by __post_init__).
    _decoy: PasswordHash | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if any(isinstance(p, PasswordHash) for p in self.users.values()):
            object.__setattr__(self, "_decoy", PasswordHash.of(secrets.token_hex(16)))

    @classmethod
    def load(cls, users_file: Path | None, tokens_file: Path | None) -> Credentials | None:
        """The credentials the files hold; None when neither is given (no auth)."""
        if users_file is None and tokens_file is None:
            return None
        users: dict[str, str | PasswordHash] = {}
        if users_file is not None:
            for where, line in _lines(users_file, "--users-file"):
                user, colon, password = line.partition(":")
                if not colon or not user or not password:
                    raise UsageError(f"{where}: expected USER:PASSWORD")
                if user in users:
                    raise UsageError(f"{where}: user {user!r} is listed twice")
                hashed = password.startswith(HASH_SCHEME + ":")
                users[user] = PasswordHash.parse(password, where) if hashed else password
        tokens = tuple(line.strip() for _, line in _lines(tokens_file, "--bearer-token-file"))
        return cls(users, tokens)

    def challenge(self) -> str:
        schemes = [f'Basic realm="{REALM}"'] if self.users else []
        return ", ".join([*schemes, *([f'Bearer realm="{REALM}"'] if self.tokens else [])])

    @property
    def plaintext_users(self) -> list[str]:
        """Users whose password the users file holds as it is."""
        return sorted(u for u, p in self.users.items() if isinstance(p, str))

    async def admits(self, authorization: str | None) -> bool:
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
            if isinstance(expected, PasswordHash):
                return bool(colon) and await self._matches(user, expected, password)
            if expected is None and self._decoy is not None:
                # As slow as a wrong password of a real user: timing does not tell
                # which names exist.
                await asyncio.to_thread(self._decoy.matches, password)
                return False
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

    async def _matches(self, user: str, expected: PasswordHash, password: str) -> bool:
        seen = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        known = self._verified.get(user)
        if known is not None and hmac.compare_digest(seen, known):
            return True
        if not await asyncio.to_thread(expected.matches, password):
            return False
        self._verified[user] = seen
        return True


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
