"""A client of Confluent Schema Registry's REST API (ours or Confluent's), on the
standard library, for the toolchain's `registry push` and `registry check`.

Every request has a timeout. The registry's refusals come back as the same
`RegistryError` (status, Confluent error code, message) the server raises, so
callers handle "subject not found" alike against a URL or a store. What is not
the registry's answer (nothing listening, no answer in time, credentials
refused, something else at that address) is a `ContractsError` naming the URL:
exit code 2.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from contracts_core.errors import ToolError

from .client_auth import Credentials
from .errors import RegistryError

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
DEFAULT_TIMEOUT_S = 30.0
_SHOWN_BODY = 500  # characters of an unexpected answer quoted in an error


class RegistryUnreachable(ToolError):
    """Nothing answered at the registry's URL (refused, unknown host, timed out)."""


class RegistryAuthError(ToolError):
    """The registry refused the credentials (401) or the permission (403)."""


@dataclass(frozen=True)
class Registered:
    """A subject version: its number and the schema's global id."""

    version: int
    id: int


def subject_path(subject: str) -> str:
    """A subject in a URL path: subjects may hold `/`, which must be encoded."""
    return urllib.parse.quote(subject, safe="")


class RegistryClient:
    def __init__(
        self,
        url: str,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.url = url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout

    # The calls push and check make.
    def versions(self, subject: str) -> list[int] | None:
        """The subject's live versions, or None when the registry has no such subject."""
        try:
            found = self.request("GET", f"/subjects/{subject_path(subject)}/versions")
        except RegistryError as exc:
            if exc.code == 40401:
                return None
            raise
        return [int(v) for v in found]

    def mode(self, subject: str) -> str:
        """The subject's compatibility level, or the global one it falls back to."""
        answer = self.request("GET", f"/config/{subject_path(subject)}?defaultToGlobal=true")
        return str(answer["compatibilityLevel"])

    def lookup(self, subject: str, body: dict[str, Any]) -> Registered | None:
        """The subject's version holding exactly this schema (and references), if any."""
        try:
            answer = self.request("POST", f"/subjects/{subject_path(subject)}", body)
        except RegistryError as exc:
            if exc.code in (40401, 40403):
                return None
            raise
        return Registered(int(answer["version"]), int(answer["id"]))

    def register(self, subject: str, body: dict[str, Any]) -> Registered:
        answer = self.request("POST", f"/subjects/{subject_path(subject)}/versions", body)
        if "version" in answer:
            return Registered(int(answer["version"]), int(answer["id"]))
        # Confluent's registry answers only the id; the version comes from a lookup.
        found = self.lookup(subject, body)
        if found is None:
            raise ToolError(f"{self.url}: registered {subject!r} but cannot find it by lookup")
        return found

    def compatibility(self, subject: str, body: dict[str, Any]) -> list[str]:
        """Every difference the subject's mode rejects, against the versions it picks
        (verbose: one message per difference); empty when compatible."""
        answer = self.request(
            "POST", f"/compatibility/subjects/{subject_path(subject)}/versions?verbose=true", body
        )
        if answer.get("is_compatible"):
            return []
        messages = [str(m) for m in answer.get("messages") or []]
        return messages or ["incompatible (the registry gave no details)"]

    # HTTP.
    def request(self, method: str, path: str, body: object = None) -> Any:
        target = self.url + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(target, data=data, method=method)
        req.add_header("Accept", CONTENT_TYPE)
        if data is not None:
            req.add_header("Content-Type", CONTENT_TYPE)
        if self.credentials is not None:
            req.add_header("Authorization", self.credentials.header)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        except TimeoutError:
            raise RegistryUnreachable(
                f"the schema registry at {self.url} did not answer {method} {path} "
                f"within {self.timeout:g} s"
            ) from None
        except urllib.error.URLError as err:
            reason = err.reason.strerror if isinstance(err.reason, OSError) else err.reason
            raise RegistryUnreachable(
                f"cannot reach the schema registry at {self.url}: {reason or err.reason}"
            ) from None
        except (http.client.HTTPException, OSError) as exc:
            raise RegistryUnreachable(
                f"the schema registry at {self.url} broke off {method} {path}: {exc}"
            ) from None
        return self._answer(method, path, status, raw)

    def _answer(self, method: str, path: str, status: int, raw: bytes) -> Any:
        text = raw.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = None
        if status in (401, 403):
            who = self.credentials.source if self.credentials else "no credentials"
            said = parsed.get("message") if isinstance(parsed, dict) else text[:_SHOWN_BODY]
            verdict = "Unauthorized" if status == 401 else "Forbidden"
            raise RegistryAuthError(
                f"the schema registry at {self.url} refused {method} {path} with {status} "
                f"{verdict} ({who}): {said or '(no message)'}; see `contracts registry --help` "
                "for how to give credentials"
            )
        if 200 <= status < 300 and parsed is not None:
            return parsed
        if isinstance(parsed, dict) and "error_code" in parsed:
            raise RegistryError(status, int(parsed["error_code"]), str(parsed.get("message", "")))
        raise ToolError(
            f"the schema registry at {self.url} answered {method} {path} with {status}, "
            f"not a registry's JSON: {text[:_SHOWN_BODY] or '(empty)'}"
        )
