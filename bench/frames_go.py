"""Frame encode + decode in Go: ours against confluent-kafka-go's serde, in one run.

    .venv/bin/python bench/frames_go.py [--benchtime 2s] [--count 3]

Runs `go test -bench EncodeDecode` in tests/confluent_go (cgo on: confluent-kafka-go's
serde links the librdkafka its module ships) and prints each side's median ns/op and
the ratio. The message is the full `TaskEnvelope` golden vector; ours is
`frames.EncodeMessage` then `frames.DecodeMessage`, theirs `Serializer.Serialize` then
`Deserializer.DeserializeInto` on its in-process mock registry (CacheSchemas on).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
from pathlib import Path

MODULE = Path(__file__).resolve().parents[1] / "tests/confluent_go"
LINE = re.compile(r"^BenchmarkEncodeDecode/(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchtime", default="2s")
    parser.add_argument("--count", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "CGO_ENABLED": "1", "GOTOOLCHAIN": "local"}
    command = ["go", "test", "-run", "^$", "-bench", "EncodeDecode"]
    command += [f"-benchtime={args.benchtime}", f"-count={args.count}", "."]
    done = subprocess.run(
        command, cwd=MODULE, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"go test failed:\n{done.stdout}\n{done.stderr}")
    runs: dict[str, list[float]] = {}
    for line in done.stdout.splitlines():
        if match := LINE.match(line):
            runs.setdefault(match[1], []).append(float(match[2]))
    ours, theirs = statistics.median(runs["ours"]), statistics.median(runs["confluent-go"])
    print(
        f"{'ns/op (median of ' + str(args.count) + ')':<28}{'ours':>10}{'confluent-go':>15}{'ratio':>8}"
    )
    print(f"{'TaskEnvelope encode+decode':<28}{ours:>10,.0f}{theirs:>15,.0f}{theirs / ours:>7.1f}x")


if __name__ == "__main__":
    main()
