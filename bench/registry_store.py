"""Registry requests per second on the embedded SQLite store and on PostgreSQL, side by side.

    .venv/bin/python bench/registry_store.py [--seconds 6] [--concurrency 1,8] [--rounds 3]

Starts a throwaway PostgreSQL cluster (tests/postgres_server.py) and one
`contracts registry serve` process per store, then drives each with `-c` client
threads on keep-alive connections for `--seconds` per row, the two stores taking
turns in `--rounds` slices so that load from elsewhere falls on both alike:

- register: every request a new schema (a new id and a new version; mode NONE, so
  the compatibility rules are not what is timed), spread over 8 subjects;
- register again: the subject's registered schema sent again (what a producer's
  serializer does at start-up): answered with its id and version;
- check: a compatible new version checked against the latest (BACKWARD), not registered;
- get by id: `GET /schemas/ids/{id}` of a registered schema (the store alone, no protoc).

Register compiles every new schema with protoc (in the server's one compile worker process);
register again and check send a schema seen before, which the server's compile
cache answers, so they time the store and the compatibility rules; get by id
shows the stores' own difference. Prints requests/s and p50/p99 latency, with PostgreSQL/SQLite ratios.
The clients share the machine's cores with the server and the database.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from postgres_server import running_postgres
from registry_process import CONTENT_TYPE, RegistryProcess, running_registry

SUBJECTS = 8
BASE = 'syntax = "proto3";\npackage bench.v1;\n\nmessage Order {\n  int64 id = 1;\n}\n'
COMPATIBLE = BASE.replace("int64 id = 1;", "int64 id = 1;\n  string note = 2;")


def new_schema(n: int) -> str:
    return f'syntax = "proto3";\npackage bench.v1;\n\nmessage Event{n} {{\n  int64 id = 1;\n}}\n'


@dataclass
class Result:
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


# One call: (method, path, body) for the request number it is given.
Call = Callable[[int], tuple[str, str, dict[str, object] | None]]


def drive(port: int, call: Call, clients: int, seconds: float) -> Result:
    numbers = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    failures: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        while time.monotonic() < stop:
            with lock:
                n = next(numbers)
            method, path, body = call(n)
            data = None if body is None else json.dumps(body).encode()
            started = time.perf_counter()
            conn.request(method, path, body=data, headers={"Content-Type": CONTENT_TYPE})
            response = conn.getresponse()
            text = response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                failures.append(f"{method} {path}: {response.status} {text[:200]!r}")
                break
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    if failures:
        raise SystemExit(f"a request failed: {failures[0]}")
    return Result(len(latencies), time.monotonic() - began, latencies)


def prepare(server: RegistryProcess) -> int:
    """Global mode NONE, a BACKWARD subject to check against; its schema's id."""
    server.request("PUT", "/config", {"compatibility": "NONE"})
    server.request("PUT", "/config/check-value", {"compatibility": "BACKWARD"})
    base = server.request(
        "POST", "/subjects/check-value/versions", {"schema": BASE, "schemaType": "PROTOBUF"}
    )
    assert base.status == 200, base.text
    return int(base.body["id"])


def calls(known_id: int, first: int) -> dict[str, Call]:
    def register(n: int) -> tuple[str, str, dict[str, object] | None]:
        schema = {"schemaType": "PROTOBUF", "schema": new_schema(first + n)}
        return "POST", f"/subjects/bench-{n % SUBJECTS}-value/versions", schema

    def again(n: int) -> tuple[str, str, dict[str, object] | None]:
        schema = {"schemaType": "PROTOBUF", "schema": BASE}
        return "POST", "/subjects/check-value/versions", schema

    def check(n: int) -> tuple[str, str, dict[str, object] | None]:
        schema = {"schemaType": "PROTOBUF", "schema": COMPATIBLE}
        return "POST", "/compatibility/subjects/check-value/versions/latest", schema

    def by_id(n: int) -> tuple[str, str, dict[str, object] | None]:
        return "GET", f"/schemas/ids/{known_id}", None

    return {"register": register, "register again": again, "check": check, "get by id": by_id}


def merged(parts: list[Result]) -> Result:
    return Result(
        sum(r.requests for r in parts),
        sum(r.seconds for r in parts),
        [ms for r in parts for ms in r.latencies_ms],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    concurrency = [int(c) for c in args.concurrency.split(",")]
    slice_s = args.seconds / args.rounds
    offsets = itertools.count(step=1_000_000)

    print(f"{args.seconds:g} s per store and row, alternating in {args.rounds} slices")
    print("requests/s (p50 / p99 ms)")
    print(f"{'request':14} {'clients':>7} {'SQLite':>24} {'PostgreSQL':>24} {'PG/SQLite':>9}")
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_postgres() as cluster,
        running_registry(str(Path(tmp) / "store.db")) as lite_server,
        running_registry(cluster.create_database()) as pg_server,
    ):
        servers = {"sqlite": lite_server, "postgresql": pg_server}
        ids = {kind: prepare(server) for kind, server in servers.items()}
        for clients in concurrency:
            for name in ("register", "register again", "check", "get by id"):
                # The stores take turns, so load from elsewhere on the machine falls on both.
                parts: dict[str, list[Result]] = {kind: [] for kind in servers}
                for _ in range(args.rounds):
                    for kind, server in servers.items():
                        call = calls(ids[kind], next(offsets))[name]
                        parts[kind].append(drive(server.port, call, clients, slice_s))
                lite, pg = merged(parts["sqlite"]), merged(parts["postgresql"])
                cells = [
                    f"{r.rate:8.0f} ({r.percentile(0.5):5.1f} / {r.percentile(0.99):6.1f})"
                    for r in (lite, pg)
                ]
                print(
                    f"{name:14} {clients:>7} {cells[0]:>24} {cells[1]:>24} "
                    f"{pg.rate / lite.rate:8.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
