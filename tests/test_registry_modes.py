"""Confluent's modes (READWRITE, READONLY, IMPORT), imports with explicit ids, and
the configuration and listing endpoints around them, against the real server
process on each store (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from registry_process import STORES, Answer, RegistryProcess, new_store, running_registry

V1 = 'syntax = "proto3";\npackage shop.v1;\n\nmessage Order {\n  int64 id = 1;\n}\n'
V2 = V1.replace("int64 id = 1;", "int64 id = 1;\n  string note = 2;")
RETYPED = V1.replace("int64 id", "string id")  # incompatible with V1 under BACKWARD


def proto(schema: str, **extra: object) -> dict[str, object]:
    return {"schemaType": "PROTOBUF", "schema": schema, **extra}


def unique(tag: str) -> str:
    """A schema no other test registers (ids are global across subjects)."""
    return V1.replace("message Order", f"message Order{tag}")


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryProcess]:
    store = new_store(request.param, tmp_path_factory.mktemp("registry"), request)
    with running_registry(store) as s:
        yield s


def code(answer: Answer) -> tuple[int, int]:
    return answer.status, answer.body["error_code"]


def test_modes_default_set_read_and_delete(server: RegistryProcess) -> None:
    assert server.request("GET", "/mode").body == {"mode": "READWRITE"}
    unset = server.request("GET", "/mode/m-value")
    assert code(unset) == (404, 40409) and "m-value" in unset.body["message"]
    assert server.request("GET", "/mode/m-value?defaultToGlobal=true").body == {"mode": "READWRITE"}
    put = server.request("PUT", "/mode/m-value", {"mode": "readonly"})
    assert (put.status, put.body) == (200, {"mode": "READONLY"})
    assert server.request("GET", "/mode/m-value").body == {"mode": "READONLY"}
    for bad in ({"mode": "SIDEWAYS"}, {"mode": 3}, {}):
        refused = server.request("PUT", "/mode/m-value", bad)
        assert code(refused) == (422, 42204), bad
        assert "READWRITE" in refused.body["message"]
    assert server.request("DELETE", "/mode/m-value").body == {"mode": "READONLY"}
    assert code(server.request("GET", "/mode/m-value")) == (404, 40409)
    assert code(server.request("DELETE", "/mode/m-value")) == (404, 40401)


def test_read_only_subject_refuses_writes_and_answers_reads(server: RegistryProcess) -> None:
    first = server.request("POST", "/subjects/ro-value/versions", proto(unique("Ro"))).body
    for mode in ("READONLY", "READONLY_OVERRIDE"):
        assert server.request("PUT", "/mode/ro-value", {"mode": mode}).status == 200
        writes = [
            ("POST", "/subjects/ro-value/versions", proto(V2)),
            ("DELETE", "/subjects/ro-value/versions/1", None),
            ("DELETE", "/subjects/ro-value", None),
            ("PUT", "/config/ro-value", {"compatibility": "NONE"}),
            ("DELETE", "/config/ro-value", None),
        ]
        for method, path, body in writes:
            refused = server.request(method, path, body)
            assert code(refused) == (422, 42205), (mode, method, path)
            assert "ro-value is in read-only mode" in refused.body["message"]
        assert server.request("GET", "/subjects/ro-value/versions").body == [1]
        assert server.request("POST", "/subjects/ro-value", proto(unique("Ro"))).status == 200
        check = server.request("POST", "/compatibility/subjects/ro-value/versions/1", proto(V2))
        assert check.status == 200
    # Another subject is not affected; leaving the mode lifts the refusal.
    assert server.request("POST", "/subjects/rw-value/versions", proto(V2)).status == 200
    server.request("DELETE", "/mode/ro-value")
    assert server.request("DELETE", "/subjects/ro-value/versions/1").body == 1
    assert first["id"] > 0


def test_global_read_only_applies_unless_the_subject_says_otherwise(
    server: RegistryProcess,
) -> None:
    assert server.request("PUT", "/mode", {"mode": "READONLY"}).body == {"mode": "READONLY"}
    try:
        refused = server.request("POST", "/subjects/g-value/versions", proto(unique("G")))
        assert code(refused) == (422, 42205)
        assert code(server.request("PUT", "/config", {"compatibility": "NONE"})) == (422, 42205)
        assert server.request("GET", "/mode/g-value?defaultToGlobal=true").body == {
            "mode": "READONLY"
        }
        server.request("PUT", "/mode/g-value", {"mode": "READWRITE"})
        assert (
            server.request("POST", "/subjects/g-value/versions", proto(unique("G"))).status == 200
        )
    finally:
        assert server.request("DELETE", "/mode").body == {"mode": "READONLY"}
    assert server.request("GET", "/mode").body == {"mode": "READWRITE"}


def test_import_registers_the_given_id_and_version(server: RegistryProcess) -> None:
    assert server.request("PUT", "/mode/imp-value", {"mode": "IMPORT"}).body == {"mode": "IMPORT"}
    plain = server.request("POST", "/subjects/imp-value/versions", proto(unique("Imp")))
    assert code(plain) == (422, 42205) and "not in read-write mode" in plain.body["message"]

    first = proto(unique("Imp"), id=7000, version=3)
    done = server.request("POST", "/subjects/imp-value/versions", first)
    assert done.status == 200, done.text
    assert (done.body["id"], done.body["version"]) == (7000, 3)
    got = server.request("GET", "/subjects/imp-value/versions/3").body
    assert (got["id"], got["schema"]) == (7000, unique("Imp"))
    assert server.request("GET", "/schemas/ids/7000").body["schema"] == unique("Imp")
    # Repeating an import answers what it made.
    again = server.request("POST", "/subjects/imp-value/versions", first).body
    assert (again["id"], again["version"]) == (7000, 3)
    # No compatibility check: an incompatible schema is imported as the next version.
    retyped = RETYPED.replace("message Order", "message OrderImp")
    nxt = server.request("POST", "/subjects/imp-value/versions", proto(retyped, id=7002))
    assert (nxt.body["id"], nxt.body["version"]) == (7002, 4)

    overwrite = server.request(
        "POST", "/subjects/imp-value/versions", proto(unique("ImpNew"), id=7000)
    )
    assert code(overwrite) == (422, 42205) and "id 7000" in overwrite.body["message"]
    other_id = server.request(
        "POST", "/subjects/imp-value/versions", proto(unique("Imp"), id=7001, version=9)
    )
    assert code(other_id) == (422, 42207)
    assert "registered with id 7000 instead of input id 7001" in other_id.body["message"]
    taken = server.request(
        "POST", "/subjects/imp-value/versions", proto(unique("ImpX"), id=7003, version=3)
    )
    assert code(taken) == (422, 42205) and "Version 3" in taken.body["message"]
    assert server.request("GET", "/subjects/imp-value/versions").body == [3, 4]

    # Back to READWRITE: new ids continue past the imported ones.
    server.request("PUT", "/mode/imp-value", {"mode": "READWRITE"})
    later = server.request("POST", "/subjects/after-import-value/versions", proto(unique("After")))
    assert later.body["id"] > 7002
    explicit = server.request("POST", "/subjects/imp-value/versions", proto(V2, id=7100))
    assert code(explicit) == (422, 42205) and "not in import mode" in explicit.body["message"]


def test_imports_and_registrations_at_once_never_share_an_id(server: RegistryProcess) -> None:
    """Imports of the very ids the registry is about to hand out, next to ordinary
    registrations: each id goes to one schema. An import that loses the race for
    its id is refused (42205), never overwrites, and the registry never hands
    out an id an import took."""
    server.request("PUT", "/mode/race-import-value", {"mode": "IMPORT"})
    probe = server.request("POST", "/subjects/race-probe-value/versions", proto(unique("Probe")))
    imported = list(range(probe.body["id"] + 1, probe.body["id"] + 25, 2))

    def work(n: int) -> tuple[str, int, str]:
        if n % 2 == 0:
            wanted, text = imported[n // 2], unique(f"RaceImp{n}")
            answer = server.request(
                "POST", "/subjects/race-import-value/versions", proto(text, id=wanted)
            )
            if answer.status != 200:
                assert code(answer) == (422, 42205) and "Overwrite" in answer.body["message"]
                return "lost", wanted, text
            assert answer.body["id"] == wanted, answer.text
            return "import", wanted, text
        text = unique(f"RaceOwn{n}")
        answer = server.request("POST", f"/subjects/race-own-{n}-value/versions", proto(text))
        assert answer.status == 200, answer.text
        return "own", int(answer.body["id"]), text

    with ThreadPoolExecutor(max_workers=6) as pool:
        done = list(pool.map(work, range(2 * len(imported)), timeout=120))
    kept = [(i, text) for kind, i, text in done if kind != "lost"]
    assert len({i for i, _ in kept}) == len(kept)
    for schema_id, text in kept:
        assert server.request("GET", f"/schemas/ids/{schema_id}").body["schema"] == text
    for kind, schema_id, _ in done:
        if kind == "lost":  # a registration holds it
            owner = server.request("GET", f"/schemas/ids/{schema_id}/subjects").body
            assert owner[0].startswith("race-own-"), owner
    server.request("DELETE", "/mode/race-import-value")


def test_import_needs_an_empty_subject_unless_forced(server: RegistryProcess) -> None:
    server.request("POST", "/subjects/busy-value/versions", proto(unique("Busy")))
    refused = server.request("PUT", "/mode/busy-value", {"mode": "IMPORT"})
    assert code(refused) == (422, 42205) and "existing subjects" in refused.body["message"]
    assert code(server.request("PUT", "/mode", {"mode": "IMPORT"})) == (422, 42205)
    forced = server.request("PUT", "/mode/busy-value?force=true", {"mode": "IMPORT"})
    assert forced.body == {"mode": "IMPORT"}
    server.request("DELETE", "/mode/busy-value")


def test_explicit_version_outside_import_must_be_the_next(server: RegistryProcess) -> None:
    ok = server.request("POST", "/subjects/ver-value/versions", proto(unique("Ver"), version=1))
    assert ok.body["version"] == 1
    skip = server.request("POST", "/subjects/ver-value/versions", proto(V2, version=5))
    assert code(skip) == (422, 42201) and "one more than" in skip.body["message"]


def test_config_delete_and_listings(server: RegistryProcess) -> None:
    server.request("PUT", "/config/cd-value", {"compatibility": "NONE"})
    assert server.request("DELETE", "/config/cd-value").body == {"compatibilityLevel": "NONE"}
    assert code(server.request("GET", "/config/cd-value")) == (404, 40408)
    assert code(server.request("DELETE", "/config/cd-value")) == (404, 40401)
    server.request("PUT", "/config", {"compatibility": "FULL"})
    assert server.request("DELETE", "/config").body == {"compatibilityLevel": "FULL"}
    assert server.request("GET", "/config").body == {"compatibilityLevel": "BACKWARD"}

    one = server.request("POST", "/subjects/ls-a-value/versions", proto(unique("LsA"))).body
    # A second version: one more field (a newline alone is the same schema).
    grown = unique("LsA").replace("int64 id = 1;", "int64 id = 1;\n  string note = 2;")
    two = server.request("POST", "/subjects/ls-a-value/versions", proto(grown))
    server.request("POST", "/subjects/ls-b-value/versions", proto(unique("LsB")))
    listed = server.request("GET", "/schemas?subjectPrefix=ls-").body
    assert [(s["subject"], s["version"]) for s in listed] == [
        ("ls-a-value", 1),
        ("ls-a-value", 2),
        ("ls-b-value", 1),
    ]
    assert listed[0]["id"] == one["id"] and listed[0]["schemaType"] == "PROTOBUF"
    latest = server.request("GET", "/schemas?subjectPrefix=ls-&latestOnly=true").body
    assert [(s["subject"], s["id"]) for s in latest] == [
        ("ls-a-value", two.body["id"]),
        ("ls-b-value", listed[2]["id"]),
    ]
    page = server.request("GET", "/schemas?subjectPrefix=ls-&offset=1&limit=1").body
    assert [(s["subject"], s["version"]) for s in page] == [("ls-a-value", 2)]

    raw = server.request("GET", f"/schemas/ids/{one['id']}/schema")
    assert (raw.status, raw.text) == (200, unique("LsA"))
    assert code(server.request("GET", "/schemas/ids/99999/schema")) == (404, 40403)

    assert server.request("GET", "/subjects?subjectPrefix=ls-").body == ["ls-a-value", "ls-b-value"]
    server.request("DELETE", "/subjects/ls-b-value")
    assert server.request("GET", "/subjects?subjectPrefix=ls-&deleted_only=true").body == [
        "ls-b-value"
    ]
    assert server.request("GET", "/subjects?subjectPrefix=ls-&limit=1").body == ["ls-a-value"]
    bad = server.request("GET", "/subjects?limit=many")
    assert code(bad) == (400, 400) and "limit" in bad.body["message"]
    assert server.request("GET", "/contexts").body == ["."]


def _drop_mode_table(store: str) -> None:
    """Make the store look like one written before modes existed."""
    if store.startswith("postgresql://"):
        with psycopg.connect(store, autocommit=True) as db:
            db.execute("DROP TABLE registry_modes")
    else:
        with sqlite3.connect(store) as db:
            db.execute("DROP TABLE modes")


@pytest.mark.parametrize("kind", STORES)
def test_a_store_from_before_modes_keeps_working(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = new_store(kind, tmp_path, request)
    with running_registry(store) as old:
        first = old.request("POST", "/subjects/old-value/versions", proto(V1)).body
    _drop_mode_table(store)
    with running_registry(store) as upgraded:
        assert upgraded.request("GET", "/subjects/old-value/versions/1").body["id"] == first["id"]
        assert upgraded.request("GET", "/mode").body == {"mode": "READWRITE"}
        upgraded.request("PUT", "/mode/old-value", {"mode": "READONLY"})
    with running_registry(store) as restarted:
        assert restarted.request("GET", "/mode/old-value").body == {"mode": "READONLY"}
        refused = restarted.request("POST", "/subjects/old-value/versions", proto(V2))
        assert code(refused) == (422, 42205)
