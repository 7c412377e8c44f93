"""Every endpoint of the registry, against the real server process (uvicorn), on each
store (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_contracts
from google.protobuf import descriptor_pb2
from registry_process import STORES, RegistryProcess, new_store, running_registry

V1 = 'syntax = "proto3";\npackage shop.v1;\n\nmessage Order {\n  int64 id = 1;\n}\n'
V2 = V1.replace("int64 id = 1;", "int64 id = 1;\n  string note = 2;")
BAD_TYPE = V1.replace("int64 id", "string id")
MONEY = 'syntax = "proto3";\npackage shop.v1;\n\nmessage Money {\n  int64 cents = 1;\n}\n'
USES_MONEY = (
    'syntax = "proto3";\npackage shop.v1;\nimport "shop/v1/money.proto";\n'
    'import "google/protobuf/timestamp.proto";\n\n'
    "message Price {\n  Money amount = 1;\n  google.protobuf.Timestamp at = 2;\n}\n"
)


def proto(schema: str, **extra: object) -> dict[str, object]:
    return {"schemaType": "PROTOBUF", "schema": schema, **extra}


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryProcess]:
    store = new_store(request.param, tmp_path_factory.mktemp("registry"), request)
    with running_registry(store) as s:
        yield s


def test_register_returns_one_id_per_schema_and_new_versions(server: RegistryProcess) -> None:
    first = server.request("POST", "/subjects/orders-value/versions", proto(V1))
    assert first.status == 200, first.text
    again = server.request("POST", "/subjects/orders-value/versions", proto(V1))
    assert again.body["id"] == first.body["id"] and again.body["version"] == 1
    second = server.request("POST", "/subjects/orders-value/versions", proto(V2))
    assert second.body["version"] == 2 and second.body["id"] != first.body["id"]
    # The same schema under another subject: the same global id.
    other = server.request("POST", "/subjects/orders-copy/versions", proto(V1))
    assert other.body["id"] == first.body["id"] and other.body["version"] == 1

    assert "orders-value" in server.request("GET", "/subjects").body
    assert server.request("GET", "/subjects/orders-value/versions").body == [1, 2]
    latest = server.request("GET", "/subjects/orders-value/versions/latest").body
    assert (latest["version"], latest["id"], latest["schema"]) == (2, second.body["id"], V2)
    assert server.request("GET", "/subjects/orders-value/versions/-1").body["version"] == 2
    raw = server.request("GET", "/subjects/orders-value/versions/1/schema")
    assert raw.status == 200 and raw.text == V1

    by_id = server.request("GET", f"/schemas/ids/{first.body['id']}").body
    assert by_id == {"schemaType": "PROTOBUF", "schema": V1}
    uses = server.request("GET", f"/schemas/ids/{first.body['id']}/versions").body
    assert uses == [
        {"subject": "orders-copy", "version": 1},
        {"subject": "orders-value", "version": 1},
    ]
    assert server.request("GET", "/schemas/types").body == ["PROTOBUF"]


def test_serialized_format_is_the_compiled_file_descriptor(server: RegistryProcess) -> None:
    reg = server.request("POST", "/subjects/ser-value/versions", proto(V1)).body
    answer = server.request("GET", f"/schemas/ids/{reg['id']}?format=serialized").body
    file = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(answer["schema"]))
    assert file.package == "shop.v1" and [m.name for m in file.message_type] == ["Order"]


def test_lookup_finds_the_registered_version_or_says_what_is_missing(
    server: RegistryProcess,
) -> None:
    reg = server.request("POST", "/subjects/look-value/versions", proto(V1)).body
    found = server.request("POST", "/subjects/look-value", proto(V1))
    assert found.status == 200
    assert (found.body["id"], found.body["version"]) == (reg["id"], 1)
    missing = server.request("POST", "/subjects/look-value", proto(V2))
    assert (missing.status, missing.body["error_code"]) == (404, 40403)
    nobody = server.request("POST", "/subjects/nobody-value", proto(V1))
    assert nobody.body["error_code"] == 40401


def test_references_and_well_known_types(server: RegistryProcess) -> None:
    money = server.request("POST", "/subjects/shop%2Fv1%2Fmoney.proto/versions", proto(MONEY))
    assert money.status == 200, money.text
    assert "shop/v1/money.proto" in server.request("GET", "/subjects").body
    ref = {"name": "shop/v1/money.proto", "subject": "shop/v1/money.proto", "version": 1}
    price = server.request(
        "POST", "/subjects/price-value/versions", proto(USES_MONEY, references=[ref])
    )
    assert price.status == 200, price.text
    got = server.request("GET", "/subjects/price-value/versions/1").body
    assert got["references"] == [ref]
    referencing = server.request("GET", "/subjects/shop%2Fv1%2Fmoney.proto/versions/1/referencedby")
    assert referencing.body == [price.body["id"]]
    # A version that another schema imports cannot be deleted from under it.
    kept = server.request("DELETE", "/subjects/shop%2Fv1%2Fmoney.proto/versions/1")
    assert (kept.status, kept.body["error_code"]) == (422, 42206)
    assert str(price.body["id"]) in kept.body["message"]
    # Without the reference the import cannot be found: the compiler says so.
    alone = server.request("POST", "/subjects/price2-value/versions", proto(USES_MONEY))
    assert alone.body["error_code"] == 42201 and "shop/v1/money.proto" in alone.body["message"]
    dangling = {**ref, "version": 7}
    bad = server.request(
        "POST", "/subjects/price3-value/versions", proto(USES_MONEY, references=[dangling])
    )
    assert bad.body["error_code"] == 42201 and "no version 7" in bad.body["message"]


def test_incompatible_schema_is_refused_with_every_difference(server: RegistryProcess) -> None:
    server.request("POST", "/subjects/inc-value/versions", proto(V1))
    refused = server.request("POST", "/subjects/inc-value/versions", proto(BAD_TYPE))
    assert (refused.status, refused.body["error_code"]) == (409, 409)
    assert "FIELD_SCALAR_KIND_CHANGED" in refused.body["message"]
    assert "#/Order/1" in refused.body["message"]
    assert server.request("GET", "/subjects/inc-value/versions").body == [1]

    verbose = server.request(
        "POST", "/compatibility/subjects/inc-value/versions/latest?verbose=true", proto(BAD_TYPE)
    ).body
    assert verbose["is_compatible"] is False
    assert len(verbose["messages"]) == 1 and "#/Order/1" in verbose["messages"][0]
    assert "schema.proto:5:3" in verbose["messages"][0]
    fine = server.request("POST", "/compatibility/subjects/inc-value/versions/1", proto(V2))
    assert fine.body == {"is_compatible": True}
    every = server.request(
        "POST", "/compatibility/subjects/inc-value/versions?verbose=true", proto(V2)
    )
    assert every.body == {"is_compatible": True, "messages": []}
    assert (
        server.request("POST", "/compatibility/subjects/inc-value/versions/9", proto(V2)).body[
            "error_code"
        ]
        == 40402
    )


def test_config_sets_the_mode_that_registration_uses(server: RegistryProcess) -> None:
    assert server.request("GET", "/config").body == {"compatibilityLevel": "BACKWARD"}
    unset = server.request("GET", "/config/cfg-value")
    assert (unset.status, unset.body["error_code"]) == (404, 40408)
    assert server.request("GET", "/config/cfg-value?defaultToGlobal=true").body == {
        "compatibilityLevel": "BACKWARD"
    }
    put = server.request("PUT", "/config/cfg-value", {"compatibility": "none"})
    assert put.body == {"compatibility": "NONE"}
    assert server.request("GET", "/config/cfg-value").body == {"compatibilityLevel": "NONE"}
    server.request("POST", "/subjects/cfg-value/versions", proto(V1))
    assert server.request("POST", "/subjects/cfg-value/versions", proto(BAD_TYPE)).status == 200
    bad = server.request("PUT", "/config", {"compatibility": "SIDEWAYS"})
    assert (bad.status, bad.body["error_code"]) == (422, 42203)
    assert "BACKWARD_TRANSITIVE" in bad.body["message"]


def test_soft_and_permanent_deletes(server: RegistryProcess) -> None:
    first = server.request("POST", "/subjects/del-value/versions", proto(V1)).body
    server.request("POST", "/subjects/del-value/versions", proto(V2))
    early = server.request("DELETE", "/subjects/del-value/versions/1?permanent=true")
    assert early.body["error_code"] == 40407
    assert server.request("DELETE", "/subjects/del-value/versions/1").body == 1
    assert server.request("GET", "/subjects/del-value/versions").body == [2]
    assert server.request("GET", "/subjects/del-value/versions?deleted=true").body == [1, 2]
    assert server.request("GET", "/subjects/del-value/versions/1").body["error_code"] == 40402
    assert server.request("GET", "/subjects/del-value/versions/1?deleted=true").status == 200
    again = server.request("DELETE", "/subjects/del-value/versions/1")
    assert again.body["error_code"] == 40406
    assert server.request("DELETE", "/subjects/del-value/versions/1?permanent=true").body == 1

    assert (
        server.request("DELETE", "/subjects/del-value?permanent=true").body["error_code"] == 40405
    )
    assert server.request("DELETE", "/subjects/del-value").body == [2]
    assert "del-value" not in server.request("GET", "/subjects").body
    assert "del-value" in server.request("GET", "/subjects?deleted=true").body
    assert server.request("DELETE", "/subjects/del-value").body["error_code"] == 40404
    assert server.request("DELETE", "/subjects/del-value?permanent=true").body == [2]
    assert server.request("GET", "/subjects/del-value/versions").body["error_code"] == 40401
    # The id is not reused: a new schema gets a higher one.
    fresh = V2.replace("note", "remark")
    later = server.request("POST", "/subjects/del-value/versions", proto(fresh)).body
    assert later["id"] > first["id"]


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/subjects/missing-value/versions", 40401),
        ("GET", "/subjects/missing-value/versions/1", 40401),
        ("GET", "/schemas/ids/99999", 40403),
        ("GET", "/schemas/ids/99999/versions", 40403),
        ("GET", "/subjects/missing-value/versions/zero", 42202),
        ("GET", "/subjects/missing-value/versions/0", 42202),
    ],
)
def test_unknown_things_are_named(
    server: RegistryProcess, method: str, path: str, code: int
) -> None:
    answer = server.request(method, path)
    assert answer.body["error_code"] == code, answer.text
    assert answer.status == code // 100


def test_invalid_schema_names_the_line(server: RegistryProcess) -> None:
    broken = 'syntax = "proto3";\npackage x;\nmessage M {\n  int32 a = 1\n}\n'
    answer = server.request("POST", "/subjects/broken-value/versions", proto(broken))
    assert (answer.status, answer.body["error_code"]) == (422, 42201)
    assert "schema.proto:5:1" in answer.body["message"]
    avro = server.request("POST", "/subjects/broken-value/versions", {"schema": "{}"})
    assert avro.body["error_code"] == 42201 and "PROTOBUF" in avro.body["message"]


def test_request_shape_errors(server: RegistryProcess, tmp_path: Path) -> None:
    wrong_type = server.request(
        "POST", "/subjects/x-value/versions", proto(V1), content_type="text/plain"
    )
    assert (wrong_type.status, wrong_type.body["error_code"]) == (415, 415)
    plain_json = server.request(
        "POST", "/subjects/json-value/versions", proto(V1), content_type="application/json"
    )
    assert plain_json.status == 200
    normalize = server.request("POST", "/subjects/x-value/versions?normalize=true", proto(V1))
    assert normalize.status == 422 and "normalize=true" in normalize.body["message"]
    malformed = server.request("POST", "/subjects/x-value/versions", raw=b"{not json")
    assert (malformed.status, malformed.body["error_code"]) == (400, 400)
    with running_registry(tmp_path / "small.db", "--max-body-bytes", "1000") as small:
        huge = small.request("POST", "/subjects/x-value/versions", proto("// " + "x" * 2000))
        assert (huge.status, huge.body["error_code"]) == (413, 413)
        assert "1000 bytes" in huge.body["message"]
        assert small.request("POST", "/subjects/x-value/versions", proto(V1)).status == 200


def test_transitive_mode_checks_every_version(server: RegistryProcess) -> None:
    """Removing a field passes BACKWARD; bringing its number back with another
    type passes against the latest version only, so the transitive mode refuses it."""
    without = 'syntax = "proto3";\npackage shop.v1;\n\nmessage Order {\n}\n'
    retyped = V1.replace("int64 id = 1;", "string id = 1;")
    server.request("POST", "/subjects/trans-value/versions", proto(V1))
    assert server.request("POST", "/subjects/trans-value/versions", proto(without)).status == 200
    check = "/compatibility/subjects/trans-value/versions?verbose=true"
    assert server.request("POST", check, proto(retyped)).body["is_compatible"] is True

    server.request("PUT", "/config/trans-value", {"compatibility": "BACKWARD_TRANSITIVE"})
    verdict = server.request("POST", check, proto(retyped)).body
    assert verdict["is_compatible"] is False
    assert "version 1" in verdict["messages"][0]
    refused = server.request("POST", "/subjects/trans-value/versions", proto(retyped))
    assert refused.status == 409 and "BACKWARD_TRANSITIVE" in refused.body["message"]


def test_serve_refuses_a_store_it_cannot_open_and_a_taken_port(
    server: RegistryProcess, tmp_path: Path
) -> None:
    missing = run_contracts(
        "registry", "serve", "--store", str(tmp_path / "no" / "such" / "s.db"), cwd=tmp_path
    )
    assert missing.code == 2 and "cannot open the registry store" in missing.stderr
    taken = run_contracts(
        "registry",
        "serve",
        "--port",
        str(server.port),
        "--store",
        str(tmp_path / "s.db"),
        cwd=tmp_path,
    )
    assert taken.code == 2 and f"127.0.0.1:{server.port}" in taken.stderr
