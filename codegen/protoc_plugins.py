"""The templated generators as ordinary protoc plugins, for teams on plain
`buf generate` or protoc: a CodeGeneratorRequest on stdin, a
CodeGeneratorResponse on stdout, errors reported in the response as protoc
expects. They produce the same bytes `contracts gen` writes.

    plugins:
      - local: protoc-gen-contracts-go-client
        out: gen/go
        opt: module=example.com/team/gen/go
      - local: protoc-gen-contracts-jsonschema
        out: gen/jsonschema
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from google.protobuf.compiler import plugin_pb2

from codegen.gen import go_client, jsonschema_target
from codegen.gen.templates import Templates
from contracts_core.errors import ContractsError, UsageError

Request = plugin_pb2.CodeGeneratorRequest
Generate = Callable[[Request], dict[str, str]]


def _go_client(request: Request) -> dict[str, str]:
    params = go_client.Parameters.parse(request.parameter)
    templates = Templates(Path(params.templates) if params.templates else None)
    return go_client.generate(request.proto_file, request.file_to_generate, params, templates)


def _jsonschema(request: Request) -> dict[str, str]:
    if request.parameter:
        raise UsageError(
            f"protoc-gen-contracts-jsonschema takes no parameters, got {request.parameter!r}"
        )
    schemas = jsonschema_target.schemas_of(request.proto_file, request.file_to_generate)
    return {path: jsonschema_target.render(schema) for path, schema in schemas.items()}


def _serve(generate: Generate) -> None:
    request = Request.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    try:
        files = generate(request)
    except ContractsError as exc:
        response.error = exc.message
    else:
        for name, content in sorted(files.items()):
            response.file.add(name=name, content=content)
    sys.stdout.buffer.write(response.SerializeToString())


def go_client_main() -> None:
    _serve(_go_client)


def jsonschema_main() -> None:
    _serve(_jsonschema)
