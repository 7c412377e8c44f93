"""Confluent Schema Registry's REST API over a `Registry`, as a Starlette app.

Each handler reads and checks the request (content type, size, JSON), runs the
registry call in a worker thread (the store and protoc block), and answers
JSON; every refusal is Confluent's {"error_code", "message"} body. Subjects may
hold `/` (URL-encoded by clients): the routes take the subject as a path and
match the fixed tail after it. Optional: credentials every request must carry
(a 401 otherwise), and read-only serving (every write refused with 42205).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import errors
from .errors import RegistryError
from .model import PROTOBUF, SchemaRecord, SubjectVersion
from .server_auth import Credentials
from .service import Registry, messages, serialized

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
ACCEPTED_TYPES = frozenset(
    {CONTENT_TYPE, "application/vnd.schemaregistry+json", "application/json"}
)
DEFAULT_MAX_BODY = 4 * 1024 * 1024

Handler = Callable[[Request], Awaitable[Response]]


class _Json(JSONResponse):
    media_type = CONTENT_TYPE


def _error(exc: RegistryError) -> Response:
    return _Json({"error_code": exc.code, "message": exc.message}, status_code=exc.status)


class _RequireCredentials:
    """Answers 401, with Confluent's error body and a challenge, to any request
    without admitted credentials; passes the others on."""

    def __init__(self, app: ASGIApp, credentials: Credentials) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or await self.credentials.admits(
            Headers(scope=scope).get("authorization")
        ):
            await self.app(scope, receive, send)
            return
        response = _error(errors.unauthorized())
        response.headers["WWW-Authenticate"] = self.credentials.challenge()
        await response(scope, receive, send)


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def _whole(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise errors.bad_request(f"Query parameter {name}={text!r} is not an integer") from None


def _page(request: Request, items: list[Any]) -> list[Any]:
    """The `offset`/`limit` slice of a listing (a negative limit: no limit)."""
    offset, limit = max(0, _whole(request, "offset", 0)), _whole(request, "limit", -1)
    return items[offset:] if limit < 0 else items[offset : offset + limit]


def _schema_json(record: SchemaRecord, fmt: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemaType": record.schema_type,
        "schema": serialized(record) if fmt == "serialized" else record.schema,
    }
    if record.references:
        body["references"] = [r.to_json() for r in record.references]
    return body


def _version_json(v: SubjectVersion, fmt: str | None = None) -> dict[str, Any]:
    return {"subject": v.subject, "version": v.version, "id": v.schema.id} | _schema_json(
        v.schema, fmt
    )


def build_app(
    registry: Registry,
    max_body: int = DEFAULT_MAX_BODY,
    read_only: bool = False,
    credentials: Credentials | None = None,
) -> Starlette:
    def writing(request: Request) -> None:
        """The server-wide --read-only refusal; a subject's or the registry's
        READONLY mode is the registry's own rule (modes.py)."""
        if read_only:
            raise errors.read_only(request.method, request.url.path)

    async def body_of(request: Request) -> object:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ACCEPTED_TYPES:
            raise RegistryError(
                415,
                415,
                f"Content type {kind or '(none)'!r} is not supported; send {CONTENT_TYPE} "
                "or application/json",
            )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body:
            raise RegistryError(413, 413, f"Request body over {max_body} bytes")
        raw = bytearray()
        async for chunk in request.stream():
            raw.extend(chunk)
            if len(raw) > max_body:
                raise RegistryError(413, 413, f"Request body over {max_body} bytes")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.bad_request(f"Malformed JSON body: {exc}") from None

    def endpoint(func: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                return await func(request)
            except RegistryError as exc:
                return _error(exc)

        return run

    def subject_of(request: Request) -> str:
        return str(request.path_params["subject"])

    @endpoint
    async def root(request: Request) -> Response:
        return _Json({})

    @endpoint
    async def list_subjects(request: Request) -> Response:
        deleted_only = _flag(request, "deleted_only")
        deleted = deleted_only or _flag(request, "deleted")
        names = await run_in_threadpool(registry.subjects, deleted)
        if deleted_only:
            live = set(await run_in_threadpool(registry.subjects, False))
            names = [n for n in names if n not in live]
        prefix = request.query_params.get("subjectPrefix", "")
        return _Json(_page(request, [n for n in names if n.startswith(prefix)]))

    @endpoint
    async def list_schemas(request: Request) -> Response:
        found = await run_in_threadpool(
            registry.schemas,
            request.query_params.get("subjectPrefix", ""),
            _flag(request, "deleted"),
            _flag(request, "latestOnly"),
        )
        return _Json(_page(request, [_version_json(v) for v in found]))

    @endpoint
    async def contexts(request: Request) -> Response:
        return _Json(["."])  # only Confluent's default context

    @endpoint
    async def schema_types(request: Request) -> Response:
        return _Json([PROTOBUF])

    def refuse_normalize(request: Request) -> None:
        # Confluent's schema normalisation is not implemented: refused, not ignored.
        if _flag(request, "normalize"):
            raise errors.unsupported("normalize=true")

    @endpoint
    async def subject_versions(request: Request) -> Response:
        subject = subject_of(request)
        if request.method == "POST":
            writing(request)
            refuse_normalize(request)
            body = await body_of(request)
            v = await run_in_threadpool(registry.register, subject, body)
            answer = {"id": v.schema.id} | _version_json(v)
            if isinstance(body, dict) and isinstance(body.get("schema"), str):
                # The schema in the form it was sent: confluent-kafka (Python) keeps this
                # answer as the id's schema and reads it back as `format=serialized`.
                answer["schema"] = body["schema"]
            return _Json(answer)
        found = await run_in_threadpool(registry.versions, subject, _flag(request, "deleted"))
        return _Json([v.version for v in found])

    @endpoint
    async def subject_version(request: Request) -> Response:
        subject, version = subject_of(request), str(request.path_params["version"])
        if request.method == "DELETE":
            writing(request)
            number = await run_in_threadpool(
                registry.delete_version, subject, version, _flag(request, "permanent")
            )
            return _Json(number)
        v = await run_in_threadpool(registry.version, subject, version, _flag(request, "deleted"))
        return _Json(_version_json(v, request.query_params.get("format")))

    @endpoint
    async def version_schema(request: Request) -> Response:
        subject, version = subject_of(request), str(request.path_params["version"])
        v = await run_in_threadpool(registry.version, subject, version, _flag(request, "deleted"))
        serialize = request.query_params.get("format") == "serialized"
        return Response(
            serialized(v.schema) if serialize else v.schema.schema, media_type="text/plain"
        )

    @endpoint
    async def referenced_by(request: Request) -> Response:
        subject, version = subject_of(request), str(request.path_params["version"])
        return _Json(await run_in_threadpool(registry.referenced_by, subject, version))

    @endpoint
    async def subject(request: Request) -> Response:
        name = subject_of(request)
        if request.method == "DELETE":
            writing(request)
            numbers = await run_in_threadpool(
                registry.delete_subject, name, _flag(request, "permanent")
            )
            return _Json(numbers)
        refuse_normalize(request)
        body = await body_of(request)
        v = await run_in_threadpool(registry.lookup, name, body, _flag(request, "deleted"))
        return _Json(_version_json(v, request.query_params.get("format")))

    def schema_id(request: Request) -> int:
        text = str(request.path_params["id"])
        if not text.isdigit():
            raise errors.schema_not_found(f"Schema {text} not found")
        return int(text)

    @endpoint
    async def schema_by_id(request: Request) -> Response:
        record = await run_in_threadpool(registry.schema, schema_id(request))
        return _Json(_schema_json(record, request.query_params.get("format")))

    @endpoint
    async def schema_text(request: Request) -> Response:
        record = await run_in_threadpool(registry.schema, schema_id(request))
        return Response(record.schema, media_type="text/plain")

    @endpoint
    async def schema_versions(request: Request) -> Response:
        uses = await run_in_threadpool(registry.uses, schema_id(request), _flag(request, "deleted"))
        return _Json([{"subject": v.subject, "version": v.version} for v in uses])

    @endpoint
    async def schema_subjects(request: Request) -> Response:
        uses = await run_in_threadpool(registry.uses, schema_id(request), _flag(request, "deleted"))
        return _Json(sorted({v.subject for v in uses}))

    async def compatibility(request: Request, version: str | None) -> Response:
        body = await body_of(request)
        findings = await run_in_threadpool(
            registry.check_compatibility, subject_of(request), version, body
        )
        answer: dict[str, Any] = {"is_compatible": not findings}
        if _flag(request, "verbose"):
            answer["messages"] = messages(findings)
        return _Json(answer)

    @endpoint
    async def compatibility_version(request: Request) -> Response:
        return await compatibility(request, str(request.path_params["version"]))

    @endpoint
    async def compatibility_all(request: Request) -> Response:
        return await compatibility(request, None)

    @endpoint
    async def global_config(request: Request) -> Response:
        if request.method == "DELETE":
            writing(request)
            mode = await run_in_threadpool(registry.delete_config, None)
            return _Json({"compatibilityLevel": mode.value})
        if request.method == "PUT":
            writing(request)
            body = await body_of(request)
            mode = await run_in_threadpool(registry.set_config, None, body)
            return _Json({"compatibility": mode.value})
        mode = await run_in_threadpool(registry.config, None, True)
        return _Json({"compatibilityLevel": mode.value})

    @endpoint
    async def subject_config(request: Request) -> Response:
        name = subject_of(request)
        if request.method == "DELETE":
            writing(request)
            mode = await run_in_threadpool(registry.delete_config, name)
            return _Json({"compatibilityLevel": mode.value})
        if request.method == "PUT":
            writing(request)
            body = await body_of(request)
            mode = await run_in_threadpool(registry.set_config, name, body)
            return _Json({"compatibility": mode.value})
        mode = await run_in_threadpool(registry.config, name, _flag(request, "defaultToGlobal"))
        return _Json({"compatibilityLevel": mode.value})

    async def mode(request: Request, subject: str | None) -> Response:
        modes = registry.modes
        if request.method == "PUT":
            writing(request)
            body = await body_of(request)
            changed = await run_in_threadpool(modes.set, subject, body, _flag(request, "force"))
            return _Json({"mode": changed.value})
        if request.method == "DELETE":
            writing(request)
            return _Json({"mode": (await run_in_threadpool(modes.delete, subject)).value})
        found = await run_in_threadpool(modes.get, subject, _flag(request, "defaultToGlobal"))
        return _Json({"mode": found.value})

    @endpoint
    async def global_mode(request: Request) -> Response:
        return await mode(request, None)

    @endpoint
    async def subject_mode(request: Request) -> Response:
        return await mode(request, subject_of(request))

    async def not_found(request: Request, exc: Exception) -> Response:
        return _Json({"error_code": 404, "message": "HTTP 404 Not Found"}, status_code=404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _Json({"error_code": 405, "message": "HTTP 405 Method Not Allowed"}, status_code=405)

    s = "{subject:path}"
    routes = [
        Route("/", root),
        Route("/subjects", list_subjects),
        Route("/contexts", contexts),
        Route(f"/subjects/{s}/versions/{{version}}/schema", version_schema),
        Route(f"/subjects/{s}/versions/{{version}}/referencedby", referenced_by),
        Route(f"/subjects/{s}/versions/{{version}}", subject_version, methods=["GET", "DELETE"]),
        Route(f"/subjects/{s}/versions", subject_versions, methods=["GET", "POST"]),
        Route(f"/subjects/{s}", subject, methods=["POST", "DELETE"]),
        Route("/schemas", list_schemas),
        Route("/schemas/types", schema_types),
        Route("/schemas/ids/{id}/schema", schema_text),
        Route("/schemas/ids/{id}/versions", schema_versions),
        Route("/schemas/ids/{id}/subjects", schema_subjects),
        Route("/schemas/ids/{id}", schema_by_id),
        Route(
            f"/compatibility/subjects/{s}/versions/{{version}}",
            compatibility_version,
            methods=["POST"],
        ),
        Route(f"/compatibility/subjects/{s}/versions", compatibility_all, methods=["POST"]),
        Route("/config", global_config, methods=["GET", "PUT", "DELETE"]),
        Route(f"/config/{s}", subject_config, methods=["GET", "PUT", "DELETE"]),
        Route("/mode", global_mode, methods=["GET", "PUT", "DELETE"]),
        Route(f"/mode/{s}", subject_mode, methods=["GET", "PUT", "DELETE"]),
    ]
    middleware = [] if credentials is None else [Middleware(_RequireCredentials, credentials)]
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: not_found, 405: not_allowed},
    )
