"""Schema lookups by id per second: contracts_runtime's registry client, cached against
uncached, against our registry as a real process.

    .venv/bin/python bench/registry_lookup.py [--ids 20] [--seconds 3]

Starts `contracts registry serve` on a free loopback port with a fresh store, registers
`--ids` schemas, then asks for the file descriptor of each id in turn (what a decoder
asks for every frame) for `--seconds`: once with `cache_size=0` (every lookup is a GET
of `/schemas/ids/N?format=serialized` and a parse) and once with the default cache
(warmed by one pass). Prints lookups per second and the ratio.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

from contracts_runtime.registry_client import RegistryClient, SchemaText

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from registry_process import running_registry

SCHEMA = 'syntax = "proto3";\npackage bench;\nmessage M{n} {{ string x = 1; int64 y = 2; }}\n'


def rate(client: RegistryClient, ids: list[int], seconds: float) -> float:
    done = 0
    cycle = itertools.cycle(ids)
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            client.file_descriptor(next(cycle))
        done += 20
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ids", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_registry(Path(tmp) / "store.db") as s:
        seed = RegistryClient(s.url, timeout=60)
        ids = [
            seed.register(f"bench-{n}-value", SchemaText(SCHEMA.format(n=n)))
            for n in range(args.ids)
        ]
        uncached = RegistryClient(s.url, cache_size=0)
        cached = RegistryClient(s.url)
        for schema_id in ids:
            cached.file_descriptor(schema_id)
        slow = rate(uncached, ids, args.seconds)
        fast = rate(cached, ids, args.seconds)
    print(f"{'lookups by id/s':<32}{'uncached':>12}{'cached':>14}{'ratio':>10}")
    print(
        f"{f'file descriptor, {args.ids} ids':<32}{slow:>12,.0f}{fast:>14,.0f}{fast / slow:>9,.0f}x"
    )


if __name__ == "__main__":
    main()
