"""A client of a Confluent-compatible schema registry (ours, `contracts registry serve`, or
Confluent's), over the standard library's HTTP, with bounded caches.

What never changes once registered is cached until evicted: a schema by id, the id a
schema got under a subject. What can change is cached for `ttl` seconds: the latest
version of a subject, a subject's compatibility level, the subjects and versions that
use an id, and compatibility verdicts. Each cache holds at most `cache_size` entries
and drops the least recently used first, so memory stays bounded however many ids a
consumer meets; `cache_size=0` caches nothing (every call is a request).

Every failure is a `RegistryError` naming the URL, and the registry's status and
Confluent error code when it answered.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

from contracts_runtime.lru import LruCache

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
PROTOBUF = "PROTOBUF"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_CACHE_SIZE = 1000
DEFAULT_TTL_S = 60.0

# Confluent's error codes the client tells apart.
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403


class RegistryError(Exception):
    """A registry call failed; `url` is the request's, `status` and `error_code` the
    registry's answer (None when it never answered)."""

    def __init__(
        self, message: str, url: str, status: int | None = None, error_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.error_code = error_code


class NotFoundError(RegistryError):
    """The registry has no such subject (40401), version (40402) or schema id (40403)."""


class UnreachableError(RegistryError):
    """No answer: the connection failed or the timeout passed."""


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: str

    def header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"


@dataclass(frozen=True)
class BearerAuth:
    token: str

    def header(self) -> str:
        return f"Bearer {self.token}"


@dataclass(frozen=True)
class Reference:
    """An import of a schema: the import's file name, and the subject version holding it."""

    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class SchemaText:
    """A schema as the API carries it: `.proto` text or a base64 FileDescriptorProto."""

    schema: str
    references: tuple[Reference, ...] = ()
    schema_type: str = PROTOBUF

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaType": self.schema_type, "schema": self.schema}
        if self.references:
            out["references"] = [
                {"name": r.name, "subject": r.subject, "version": r.version}
                for r in self.references
            ]
        return out

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.body(), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class RegisteredSchema:
    schema_id: int
    schema: SchemaText


@dataclass(frozen=True)
class SubjectVersion:
    subject: str
    version: int
    schema_id: int
    schema: SchemaText | None = None


@dataclass(frozen=True)
class Compatibility:
    is_compatible: bool
    messages: tuple[str, ...] = field(default=())


class RegistryClient:
    """Thread-safe; one per registry per process, shared by its encoders and decoders."""

    def __init__(
        self,
        url: str,
        *,
        auth: BasicAuth | BearerAuth | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        cache_size: int = DEFAULT_CACHE_SIZE,
        ttl: float = DEFAULT_TTL_S,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"registry URL {url!r} must be http:// or https:// with a host")
        if parts.username or parts.password:
            raise ValueError(
                f"registry URL {parts.hostname}: pass credentials as auth=BasicAuth(...), "
                "not in the URL, so they never reach a log line"
            )
        if timeout <= 0:
            raise ValueError(f"registry timeout must be above 0 seconds, not {timeout}")
        self.url = url.rstrip("/")
        self._auth = auth
        self.timeout = timeout
        self.cache_size = cache_size
        self._schemas: LruCache[tuple[int, bool], RegisteredSchema] = LruCache(cache_size)
        self._files: LruCache[int, descriptor_pb2.FileDescriptorProto] = LruCache(cache_size)
        self._ids: LruCache[tuple[str, str], SubjectVersion] = LruCache(cache_size)
        self._uses: LruCache[int, tuple[SubjectVersion, ...]] = LruCache(cache_size, ttl)
        self._latest: LruCache[str, SubjectVersion] = LruCache(cache_size, ttl)
        self._levels: LruCache[str, str] = LruCache(cache_size, ttl)
        self._verdicts: LruCache[tuple[str, str, str], Compatibility] = LruCache(cache_size, ttl)
        self._count_lock = threading.Lock()
        self.requests = 0  # HTTP requests sent, for tests and benchmarks

    # Reading.
    def schema(self, schema_id: int, *, serialized: bool = False) -> RegisteredSchema:
        """The schema registered under an id; `serialized` asks for a base64
        FileDescriptorProto instead of the text it was registered as."""
        key = (schema_id, serialized)
        cached = self._schemas.get(key)
        if cached is None:
            path = f"/schemas/ids/{schema_id}" + ("?format=serialized" if serialized else "")
            body = self._call("GET", path)
            cached = RegisteredSchema(schema_id, _schema_text(body, self.url + path))
            self._schemas.put(key, cached)
        return cached

    def file_descriptor(self, schema_id: int) -> descriptor_pb2.FileDescriptorProto:
        """The `.proto` file registered under an id, as the registry compiled it."""
        cached = self._files.get(schema_id)
        if cached is None:
            text = self.schema(schema_id, serialized=True).schema.schema
            cached = descriptor_pb2.FileDescriptorProto()
            try:
                cached.ParseFromString(base64.b64decode(text, validate=True))
            except (ValueError, DecodeError) as exc:
                raise RegistryError(
                    f"schema id {schema_id}: the registry's serialized form is not a "
                    f"base64 FileDescriptorProto: {exc}",
                    f"{self.url}/schemas/ids/{schema_id}?format=serialized",
                ) from None
            self._files.put(schema_id, cached)
        return cached

    def uses(self, schema_id: int, *, refresh: bool = False) -> tuple[SubjectVersion, ...]:
        """The subject versions that hold an id (`refresh` asks again within the ttl)."""
        cached = None if refresh else self._uses.get(schema_id)
        if cached is None:
            path = f"/schemas/ids/{schema_id}/versions"
            body = self._call("GET", path)
            try:
                cached = tuple(
                    SubjectVersion(str(u["subject"]), int(u["version"]), schema_id) for u in body
                )
            except (TypeError, KeyError, ValueError):
                raise _malformed(self.url + path, body) from None
            self._uses.put(schema_id, cached)
        return cached

    def latest(self, subject: str) -> SubjectVersion:
        """The latest version of a subject (cached for `ttl` seconds)."""
        cached = self._latest.get(subject)
        if cached is None:
            cached = self._version(f"/subjects/{_quote(subject)}/versions/latest")
            self._latest.put(subject, cached)
        return cached

    def compatibility_level(self, subject: str) -> str:
        """The subject's compatibility mode, or the global one when it has none."""
        cached = self._levels.get(subject)
        if cached is None:
            path = f"/config/{_quote(subject)}?defaultToGlobal=true"
            body = self._call("GET", path)
            level = body.get("compatibilityLevel") if isinstance(body, Mapping) else None
            if not isinstance(level, str):
                raise _malformed(self.url + path, body)
            cached = level
            self._levels.put(subject, cached)
        return cached

    # Registering and checking.
    def register(self, subject: str, schema: SchemaText) -> int:
        """The id of a schema under a subject, registering it when it is new."""
        key = (subject, schema.fingerprint)
        cached = self._ids.get(key)
        if cached is not None:
            return cached.schema_id
        path = f"/subjects/{_quote(subject)}/versions"
        body = self._call("POST", path, schema.body())
        schema_id = body.get("id") if isinstance(body, Mapping) else None
        if not isinstance(schema_id, int):
            raise _malformed(self.url + path, body)
        version = body.get("version")
        if isinstance(version, int):  # ours says; Confluent's answers only the id
            self._ids.put(key, SubjectVersion(subject, version, schema_id, schema))
        return schema_id

    def lookup(self, subject: str, schema: SchemaText) -> SubjectVersion:
        """The version of a subject that holds exactly this schema (NotFoundError if none)."""
        key = (subject, schema.fingerprint)
        cached = self._ids.get(key)
        if cached is None:
            cached = self._version(f"/subjects/{_quote(subject)}", schema.body())
            self._ids.put(key, cached)
        return cached

    def check_compatibility(
        self, subject: str, version: int | str, schema: SchemaText
    ) -> Compatibility:
        """Whether `schema` is compatible with a version of a subject (or, with
        version "all", with those the subject's mode compares) under the subject's mode."""
        key = (subject, str(version), schema.fingerprint)
        cached = self._verdicts.get(key)
        if cached is None:
            tail = "" if version == "all" else f"/{version}"
            path = f"/compatibility/subjects/{_quote(subject)}/versions{tail}?verbose=true"
            body = self._call("POST", path, schema.body())
            verdict = body.get("is_compatible") if isinstance(body, Mapping) else None
            if not isinstance(verdict, bool):
                raise _malformed(self.url + path, body)
            messages = body.get("messages") or []
            cached = Compatibility(verdict, tuple(str(m) for m in messages))
            self._verdicts.put(key, cached)
        return cached

    def clear(self) -> None:
        """Forgets every cached answer."""
        for cache in (
            self._schemas,
            self._files,
            self._ids,
            self._uses,
            self._latest,
            self._levels,
            self._verdicts,
        ):
            cache.clear()

    # HTTP.
    def _version(self, path: str, payload: object = None) -> SubjectVersion:
        body = self._call("POST" if payload is not None else "GET", path, payload)
        try:
            return SubjectVersion(
                str(body["subject"]),
                int(body["version"]),
                int(body["id"]),
                _schema_text(body, self.url + path),
            )
        except (TypeError, KeyError, ValueError):
            raise _malformed(self.url + path, body) from None

    def _call(self, method: str, path: str, payload: object = None) -> Any:
        url = self.url + path
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", CONTENT_TYPE)
        if data is not None:
            request.add_header("Content-Type", CONTENT_TYPE)
        if self._auth is not None:
            request.add_header("Authorization", self._auth.header())
        with self._count_lock:
            self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as err:
            raise _refusal(method, url, err) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            reason = getattr(err, "reason", err)
            raise UnreachableError(
                f"{method} {url}: no answer from the schema registry within "
                f"{self.timeout:g} s: {reason}",
                url,
            ) from None
        try:
            return json.loads(text)
        except ValueError:
            raise _malformed(url, text) from None


def _refusal(method: str, url: str, err: urllib.error.HTTPError) -> RegistryError:
    text = err.read().decode("utf-8", errors="replace")
    code: int | None = None
    detail = text.strip()[:300] or str(err.reason)
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, Mapping):  # Confluent's {"error_code": ..., "message": ...}
        if isinstance(body.get("error_code"), int):
            code = body["error_code"]
        detail = str(body.get("message", detail))
    kind = NotFoundError if err.code == 404 else RegistryError
    what = f" (error code {code})" if code is not None else ""
    return kind(f"{method} {url}: HTTP {err.code}{what}: {detail}", url, err.code, code)


def _malformed(url: str, body: object) -> RegistryError:
    return RegistryError(
        f"{url}: the registry's answer is not what Confluent's API returns: {str(body)[:300]}", url
    )


def _schema_text(body: object, url: str) -> SchemaText:
    if not isinstance(body, Mapping) or not isinstance(body.get("schema"), str):
        raise _malformed(url, body)
    try:
        refs = tuple(
            Reference(str(r["name"]), str(r["subject"]), int(r["version"]))
            for r in body.get("references") or []
        )
    except (TypeError, KeyError, ValueError):
        raise _malformed(url, body) from None
    return SchemaText(str(body["schema"]), refs, str(body.get("schemaType", "AVRO")))


def _quote(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")
