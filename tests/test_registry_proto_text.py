"""Schemas registered as base64 FileDescriptorProtos, against the real server
process: answered as .proto text wherever Confluent's registry answers text (by
id, by subject version, the raw schema), as base64 for `format=serialized`, and
one schema whatever form it arrives in (one id, found by lookups either way)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from conftest import REPO
from google.protobuf import descriptor_pb2
from registry_process import RegistryProcess, running_registry

from compat_checks.registry.compiler import compile_schema
from compat_checks.registry.proto_text import comparable

FIXTURE = REPO / "tests/fixtures/proto_text"
ANNOTATIONS = "opts/v1/annotations.proto"
SHOP = "shop/v1/shop.proto"
REF = {"name": ANNOTATIONS, "subject": ANNOTATIONS, "version": 1}

FileProto = descriptor_pb2.FileDescriptorProto


def proto(schema: str, **extra: object) -> dict[str, object]:
    return {"schemaType": "PROTOBUF", "schema": schema, **extra}


def b64(file: FileProto) -> str:
    return base64.b64encode(file.SerializeToString()).decode("ascii")


def _compiled(path: str, deps: list[FileProto]) -> tuple[FileProto, list[FileProto]]:
    """The fixture file as a client holds it: compiled, under its own name, no
    source positions; and every file it imports."""
    root, compiled = compile_schema((FIXTURE / path).read_text(encoding="utf-8"), deps, path)
    assert root == path
    files = {f.name: f for f in compiled.file}
    file = files.pop(path)
    file.ClearField("source_code_info")
    return file, list(files.values())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    with running_registry(tmp_path_factory.mktemp("registry") / "store.db") as s:
        yield s


@pytest.fixture(scope="module")
def shop(server: RegistryProcess) -> tuple[FileProto, list[FileProto], int]:
    """shop.proto (custom options, maps, oneofs, streaming) registered as base64, its
    custom options' file first, as base64 too."""
    annotations, _ = _compiled(ANNOTATIONS, [])
    first = server.request(
        "POST", "/subjects/opts%2Fv1%2Fannotations.proto/versions", proto(b64(annotations))
    )
    assert first.status == 200, first.text
    file, deps = _compiled(SHOP, [annotations])
    answer = server.request(
        "POST", "/subjects/shop-value/versions", proto(b64(file), references=[REF])
    )
    assert answer.status == 200, answer.text
    # The answer repeats the schema as sent: confluent-kafka keeps it as the id's schema.
    assert answer.body["schema"] == b64(file)
    return file, deps, int(answer.body["id"])


def test_a_base64_schema_is_answered_as_proto_text_that_compiles_back(
    server: RegistryProcess, shop: tuple[FileProto, list[FileProto], int]
) -> None:
    file, deps, schema_id = shop
    by_id = server.request("GET", f"/schemas/ids/{schema_id}").body
    version = server.request("GET", "/subjects/shop-value/versions/1").body
    raw = server.request("GET", "/subjects/shop-value/versions/latest/schema")
    assert raw.status == 200 and raw.text.startswith('syntax = "proto3";\npackage shop.v1;\n')
    assert by_id["schema"] == version["schema"] == raw.text
    assert by_id["references"] == version["references"] == [REF]
    assert 'option (.opts.v1.owner) = "team \\"shop\\"' in raw.text
    _, again = compile_schema(raw.text, deps)
    root = next(f for f in again.file if f.name == "schema.proto")
    assert comparable(root, deps) == comparable(file, deps)

    # The reference, registered as base64 too, is text as well.
    ref = server.request("GET", "/subjects/opts%2Fv1%2Fannotations.proto/versions/1/schema")
    assert ref.text.startswith('syntax = "proto3";\npackage opts.v1;\n')


def test_format_serialized_is_the_descriptor_under_its_own_name(
    server: RegistryProcess, shop: tuple[FileProto, list[FileProto], int]
) -> None:
    file, deps, schema_id = shop
    for path in (
        f"/schemas/ids/{schema_id}?format=serialized",
        "/subjects/shop-value/versions/1?format=serialized",
        "/subjects/shop-value/versions/1/schema?format=serialized",
    ):
        answer = server.request("GET", path)
        raw = "/schema?" in path  # the raw endpoint answers the bare string
        schema = answer.text if raw else answer.body["schema"]
        served = FileProto.FromString(base64.b64decode(schema))
        assert served.name == SHOP, path
        assert comparable(served, deps) == comparable(file, deps), path


def test_text_and_base64_of_one_schema_are_one_schema(
    server: RegistryProcess, shop: tuple[FileProto, list[FileProto], int]
) -> None:
    file, _, schema_id = shop
    source = (FIXTURE / SHOP).read_text(encoding="utf-8")
    served = server.request("GET", f"/schemas/ids/{schema_id}").body["schema"]
    # Found under the subject in either form, and in the text the registry answers.
    for schema in (source, b64(file), served):
        found = server.request("POST", "/subjects/shop-value", proto(schema, references=[REF]))
        assert found.status == 200, found.text
        assert (found.body["id"], found.body["version"]) == (schema_id, 1)
    # Registered again as text, under the subject or another one: the same id, no
    # new version (the source's comments and layout are no difference).
    for subject in ("shop-value", "shop-copy"):
        again = server.request(
            "POST", f"/subjects/{subject}/versions", proto(source, references=[REF])
        )
        assert (again.body["id"], again.body["version"]) == (schema_id, 1), subject
    # Another schema is still another one.
    changed = source.replace("string _leading = 18;", "string _leading = 18;\n  int32 extra = 99;")
    missing = server.request("POST", "/subjects/shop-value", proto(changed, references=[REF]))
    assert (missing.status, missing.body["error_code"]) == (404, 40403)
    # The references are part of the schema: without them it does not compile.
    unresolved = server.request("POST", "/subjects/shop-value", proto(b64(file)))
    assert (unresolved.status, unresolved.body["error_code"]) == (422, 42201)


def test_a_descriptor_that_has_no_proto_text_is_refused_by_name(server: RegistryProcess) -> None:
    file = FileProto(name="odd/v1/odd.proto", package="odd.v1", syntax="proto3")
    message = file.message_type.add(name="M")
    message.oneof_decl.add(name="choice")
    for number, name in enumerate(["a", "b", "c"], start=1):
        field = message.field.add(name=name, number=number, json_name=name)
        field.type = descriptor_pb2.FieldDescriptorProto.TYPE_INT32
        field.label = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    message.field[0].oneof_index = 0
    message.field[2].oneof_index = 0
    answer = server.request("POST", "/subjects/odd-value/versions", proto(b64(file)))
    assert (answer.status, answer.body["error_code"]) == (422, 42201)
    assert "odd/v1/odd.proto cannot be written as .proto text" in answer.body["message"]
    assert "oneof choice" in answer.body["message"]
