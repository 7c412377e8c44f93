"""Confluent Schema Registry's REST API over a `Registry`, as a Starlette app.

Each handler reads and checks the request (content type, size, JSON), runs the
registry call in a worker thread (the store and protoc block), and answers
JSON; every refusal is Confluent's {"error_code", "message"} body. Subjects may
hold `/` (URL-encoded by clients): the routes take the subject as a path and
match the fixed tail after it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import errors
from .errors import RegistryError
from .model import PROTOBUF, SchemaRecord, SubjectVersion
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


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


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


def build_app(registry: Registry, max_body: int = DEFAULT_MAX_BODY) -> Starlette:
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
        return _Json(await run_in_threadpool(registry.subjects, _flag(request, "deleted")))

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
        if request.method == "PUT":
            body = await body_of(request)
            mode = await run_in_threadpool(registry.set_config, None, body)
            return _Json({"compatibility": mode.value})
        mode = await run_in_threadpool(registry.config, None, True)
        return _Json({"compatibilityLevel": mode.value})

    @endpoint
    async def subject_config(request: Request) -> Response:
        name = subject_of(request)
        if request.method == "PUT":
            body = await body_of(request)
            mode = await run_in_threadpool(registry.set_config, name, body)
            return _Json({"compatibility": mode.value})
        mode = await run_in_threadpool(registry.config, name, _flag(request, "defaultToGlobal"))
        return _Json({"compatibilityLevel": mode.value})

    async def not_found(request: Request, exc: Exception) -> Response:
        return _Json({"error_code": 404, "message": "HTTP 404 Not Found"}, status_code=404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _Json({"error_code": 405, "message": "HTTP 405 Method Not Allowed"}, status_code=405)

    s = "{subject:path}"
    routes = [
        Route("/", root),
        Route("/subjects", list_subjects),
        Route(f"/subjects/{s}/versions/{{version}}/schema", version_schema),
        Route(f"/subjects/{s}/versions/{{version}}/referencedby", referenced_by),
        Route(f"/subjects/{s}/versions/{{version}}", subject_version, methods=["GET", "DELETE"]),
        Route(f"/subjects/{s}/versions", subject_versions, methods=["GET", "POST"]),
        Route(f"/subjects/{s}", subject, methods=["POST", "DELETE"]),
        Route("/schemas/types", schema_types),
        Route("/schemas/ids/{id}/versions", schema_versions),
        Route("/schemas/ids/{id}/subjects", schema_subjects),
        Route("/schemas/ids/{id}", schema_by_id),
        Route(
            f"/compatibility/subjects/{s}/versions/{{version}}",
            compatibility_version,
            methods=["POST"],
        ),
        Route(f"/compatibility/subjects/{s}/versions", compatibility_all, methods=["POST"]),
        Route("/config", global_config, methods=["GET", "PUT"]),
        Route(f"/config/{s}", subject_config, methods=["GET", "PUT"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
