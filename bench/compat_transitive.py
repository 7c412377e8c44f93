"""A new schema version against 50 registered versions of a 200-field message, transitive.

    .venv/bin/python bench/compat_transitive.py [--versions 50] [--fields 200] [--runs 7]

Each version is one file: a message whose field count grows by one per version
up to `--fields` (a mix of scalar types, an enum, a nested message, a map and a
oneof), so every comparison is compatible and walks every field. Rows are
median wall times of the compatibility check alone, with the goal beside them:
`warm` reuses the versions' parsed schemas (a registry keeps them), `cold`
builds every version's descriptor model first.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from google.protobuf import descriptor_pb2

from compat_checks.compat import Mode, Schema, check

GOAL_MS = 50.0
# Members of one oneof, present in every version (a member added later fails FORWARD).
ONEOF = (9, 19, 29)
T = descriptor_pb2.FieldDescriptorProto
SCALARS = [T.TYPE_INT32, T.TYPE_STRING, T.TYPE_INT64, T.TYPE_BOOL, T.TYPE_DOUBLE, T.TYPE_BYTES]


def version_file(fields: int) -> descriptor_pb2.FileDescriptorProto:
    """Message `Big` with `fields` fields (numbers 1..fields) of assorted kinds."""
    file = descriptor_pb2.FileDescriptorProto(
        name="bench.proto", package="bench.v1", syntax="proto3"
    )
    enum = file.enum_type.add(name="Color")
    enum.value.add(name="COLOR_UNSPECIFIED", number=0)
    enum.value.add(name="COLOR_RED", number=1)
    big = file.message_type.add(name="Big")
    inner = big.nested_type.add(name="Inner")
    inner.field.add(name="v", number=1, type=T.TYPE_INT32, label=T.LABEL_OPTIONAL, json_name="v")
    entry = big.nested_type.add(name="TagsEntry")
    entry.options.map_entry = True
    entry.field.add(
        name="key", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL, json_name="key"
    )
    entry.field.add(
        name="value", number=2, type=T.TYPE_INT64, label=T.LABEL_OPTIONAL, json_name="value"
    )
    big.oneof_decl.add(name="choice")
    for n in range(1, fields + 1):
        f = big.field.add(name=f"f{n}", number=n, json_name=f"f{n}", label=T.LABEL_OPTIONAL)
        if n % 10 == 3:
            f.type, f.type_name = T.TYPE_ENUM, ".bench.v1.Color"
        elif n % 10 == 5:
            f.type, f.type_name = T.TYPE_MESSAGE, ".bench.v1.Big.Inner"
        elif n % 10 == 7:
            f.type, f.type_name, f.label = (
                T.TYPE_MESSAGE,
                ".bench.v1.Big.TagsEntry",
                T.LABEL_REPEATED,
            )
        elif n in ONEOF:
            f.type, f.oneof_index = T.TYPE_STRING, 0
        else:
            f.type = SCALARS[n % len(SCALARS)]
            if n % 4 == 0:
                f.label = T.LABEL_REPEATED
    return file


def median_ms(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--fields", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    first = args.fields - args.versions
    files = [version_file(first + i) for i in range(args.versions)]
    new_file = version_file(args.fields)

    def schemas() -> tuple[Schema, list[Schema]]:
        return (
            Schema.from_files([new_file], "bench.proto"),
            [Schema.from_files([f], "bench.proto") for f in files],
        )

    new, previous = schemas()
    print(
        f"new version ({args.fields} fields) against {args.versions} versions "
        f"({first}..{args.fields - 1} fields), median of {args.runs} runs, goal {GOAL_MS:.0f} ms"
    )
    print(f"{'mode':<22} {'schemas':<7} {'ours ms':>9} {'goal ms':>9} {'ratio':>7}")
    for mode in (Mode.BACKWARD_TRANSITIVE, Mode.FULL_TRANSITIVE):
        assert check(new, previous, mode) == [], "the bench's versions must be compatible"

        def warm(m: Mode = mode) -> None:
            check(new, previous, m)

        def cold(m: Mode = mode) -> None:
            n, p = schemas()
            check(n, p, m)

        rows = [("warm", median_ms(warm, args.runs)), ("cold", median_ms(cold, args.runs))]
        for label, ms in rows:
            flag = "" if ms < GOAL_MS else "  over goal"
            print(
                f"{mode.value:<22} {label:<7} {ms:9.1f} {GOAL_MS:9.1f} {ms / GOAL_MS:6.2f}x{flag}"
            )


if __name__ == "__main__":
    main()
