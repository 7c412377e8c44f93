"""Each store (SQLite, PostgreSQL) under concurrent registrations, from one registry
process and from two sharing one PostgreSQL database, and with the server killed
mid-stream."""

from __future__ import annotations

import http.client
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from postgres_server import PostgresCluster
from registry_process import STORES, Answer, RegistryProcess, new_store, running_registry

THREADS = 8


def schema(n: int) -> dict[str, object]:
    text = f'syntax = "proto3";\npackage load.v1;\n\nmessage Event{n} {{\n  int64 id = 1;\n}}\n'
    return {"schemaType": "PROTOBUF", "schema": text}


@pytest.mark.parametrize("kind", STORES)
def test_concurrent_registrations_of_one_new_schema_get_one_id(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with running_registry(new_store(kind, tmp_path, request)) as server:
        barrier = threading.Barrier(THREADS, timeout=30)

        def register(_: int) -> Answer:
            barrier.wait()
            return server.request("POST", "/subjects/race-value/versions", schema(1))

        with ThreadPoolExecutor(THREADS) as pool:
            answers = list(pool.map(register, range(THREADS)))
        assert {a.status for a in answers} == {200}
        assert len({a.body["id"] for a in answers}) == 1
        assert server.request("GET", "/subjects/race-value/versions").body == [1]

        # Different schemas at once under one subject (mode NONE): no version lost.
        server.request("PUT", "/config/many-value", {"compatibility": "NONE"})

        def register_own(n: int) -> Answer:
            barrier.wait()
            return server.request("POST", "/subjects/many-value/versions", schema(100 + n))

        with ThreadPoolExecutor(THREADS) as pool:
            answers = list(pool.map(register_own, range(THREADS)))
        assert sorted(a.body["version"] for a in answers) == list(range(1, THREADS + 1))
        assert len({a.body["id"] for a in answers}) == THREADS


@pytest.mark.parametrize("kind", STORES)
def test_killed_mid_stream_the_store_keeps_every_acknowledged_id(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = new_store(kind, tmp_path, request)
    acknowledged: dict[int, tuple[int, str, int]] = {}  # schema number -> id, subject, version
    lock = threading.Lock()
    stop = threading.Event()
    server = RegistryProcess(store)

    def writer(worker: int) -> None:
        n = worker
        while not stop.is_set():
            subject = f"kill-{n % 5}-value"
            try:
                answer = server.request("POST", f"/subjects/{subject}/versions", schema(n))
            except (OSError, http.client.HTTPException):
                return  # the server is gone (mid-answer: an incomplete read)
            if answer.status == 200:
                with lock:
                    acknowledged[n] = (answer.body["id"], subject, answer.body["version"])
            n += THREADS

    try:
        for subject in range(5):
            server.request("PUT", f"/config/kill-{subject}-value", {"compatibility": "NONE"})
        threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(THREADS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()  # SIGKILL, registrations in flight
    finally:
        stop.set()
        server.kill()
    for t in threads:
        t.join(timeout=30)
    assert len(acknowledged) >= 40

    if kind == "sqlite":
        db = sqlite3.connect(store)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
    with running_registry(store) as again:
        for n, (schema_id, subject, version) in acknowledged.items():
            got = again.request("GET", f"/subjects/{subject}/versions/{version}").body
            assert (got["id"], got["schema"]) == (schema_id, schema(n)["schema"])
        ids: list[int] = []
        for subject in (f"kill-{s}-value" for s in range(5)):
            versions = again.request("GET", f"/subjects/{subject}/versions").body
            assert versions == list(range(1, len(versions) + 1))  # no gap
            ids += [
                again.request("GET", f"/subjects/{subject}/versions/{v}").body["id"]
                for v in versions
            ]
        assert len(ids) == len(set(ids))  # no id given to two schemas
        assert sorted(ids) == list(range(1, len(ids) + 1))  # and none lost
        fresh = again.request("POST", "/subjects/after-value/versions", schema(10**6)).body
        assert fresh["id"] > max(ids)  # ids are not reused


def test_two_registries_on_one_postgresql_database_share_ids_and_versions(
    tmp_path: Path, postgres: PostgresCluster
) -> None:
    """Two processes behind one address, as a load balancer would spread clients:
    the same schemas registered through both, under one subject or under many, get
    one id each; distinct schemas under one subject get versions 1..N with none lost."""
    store = postgres.create_database()
    per_server = 12
    with running_registry(store) as a, running_registry(store) as b:
        a.request("PUT", "/config/shared-value", {"compatibility": "NONE"})
        servers = [a, b]
        barrier = threading.Barrier(THREADS, timeout=30)

        def work(worker: int) -> list[tuple[str, int, Answer]]:
            server = servers[worker % 2]
            done = []
            for i in range(per_server):
                # Identical schemas from every worker, through both servers at once...
                barrier.wait()
                same = server.request("POST", f"/subjects/same-{i}-value/versions", schema(i))
                done.append((f"same-{i}-value", i, same))
                # ...and under a subject of this worker's own (one id across subjects)...
                barrier.wait()
                copy = server.request(
                    "POST", f"/subjects/copy-{worker}-{i}-value/versions", schema(500 + i)
                )
                done.append((f"copy-{worker}-{i}-value", 500 + i, copy))
                # ...and, under one subject, a schema only this worker registers.
                n = 1000 + worker * per_server + i
                own = server.request("POST", "/subjects/shared-value/versions", schema(n))
                done.append(("shared-value", n, own))
            return done

        with ThreadPoolExecutor(THREADS) as pool:
            results = [r for rs in pool.map(work, range(THREADS)) for r in rs]
        assert {answer.status for _, _, answer in results} == {200}

        ids_by_schema: dict[int, set[int]] = {}
        for _, n, answer in results:
            ids_by_schema.setdefault(n, set()).add(answer.body["id"])
        assert all(len(ids) == 1 for ids in ids_by_schema.values())  # one id per schema
        all_ids = [next(iter(ids)) for ids in ids_by_schema.values()]
        assert len(set(all_ids)) == len(all_ids)  # no id shared by two schemas
        assert sorted(all_ids) == list(range(1, len(all_ids) + 1))  # and none skipped

        for i in range(per_server):
            assert b.request("GET", f"/subjects/same-{i}-value/versions").body == [1]
        shared = [(n, answer.body) for subject, n, answer in results if subject == "shared-value"]
        assert sorted(body["version"] for _, body in shared) == list(range(1, len(shared) + 1))
        assert a.request("GET", "/subjects/shared-value/versions").body == list(
            range(1, len(shared) + 1)
        )
        for n, body in shared:  # each acknowledged version holds that worker's schema
            stored = b.request("GET", f"/subjects/shared-value/versions/{body['version']}").body
            assert (stored["id"], stored["schema"]) == (body["id"], schema(n)["schema"])

        # The same schema under another subject, through the other server: the same id.
        copy = b.request("POST", "/subjects/copy-value/versions", schema(0)).body
        assert copy["id"] == ids_by_schema[0].pop()
