"""The store under concurrent registrations and a server killed mid-stream."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from registry_process import Answer, RegistryProcess, running_registry

THREADS = 8


def schema(n: int) -> dict[str, object]:
    text = f'syntax = "proto3";\npackage load.v1;\n\nmessage Event{n} {{\n  int64 id = 1;\n}}\n'
    return {"schemaType": "PROTOBUF", "schema": text}


def test_concurrent_registrations_of_one_new_schema_get_one_id(tmp_path: Path) -> None:
    with running_registry(tmp_path / "store.db") as server:
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


def test_killed_mid_stream_the_store_keeps_every_acknowledged_id(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
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
            except OSError:
                return  # the server is gone
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
