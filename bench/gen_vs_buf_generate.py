"""contracts gen against buf generate with the same plugins, side by side, and how
both grow with the size of the module.

    .venv/bin/python bench/gen_vs_buf_generate.py [--runs N] [--sizes 10,30,100,300]

Both produce the same Python (_pb2, _pb2_grpc, mypy .pyi), Go (protoc-gen-go,
protoc-gen-go-grpc, our typed clients) and JSON Schema files; contracts gen also
writes go.mod/go.sum (go mod tidy) and package files. Trees: this repo's contracts, then one synthetic
module per size, which the benchmark writes itself. `cold` clears every cache;
`no-op` is a second run on an unchanged tree, answered from the no-op stamp
(codegen/noop_stamp.py) without importing the toolchain; `no-op, full path` is
the same run through the click CLI, which is what the stamp saves. Times are
medians of --runs runs (at least 10 for the short, noisy no-op commands);
ratios are against buf generate on the same tree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
GO_MODULE = "example.com/bench/generated/go"


def buf_gen_yaml(out: Path, shim: Path, go_module: str) -> str:
    plugins = [
        ("protoc_builtin: python", f"protoc_path: {out.parent / 'protoc'}", out / "python", ""),
        (f"local: {shim}", "", out / "python", ""),
        (f"local: {BIN / 'protoc-gen-mypy'}", "", out / "python", ""),
        (f"local: {BIN / 'protoc-gen-mypy_grpc'}", "", out / "python", ""),
        (f"local: {BIN / 'protoc-gen-go'}", "", out / "go", f"module={go_module}"),
        (f"local: {BIN / 'protoc-gen-go-grpc'}", "", out / "go", f"module={go_module}"),
        # Our templated generators, as the protoc plugins teams on buf would use.
        (
            f"local: {BIN / 'protoc-gen-contracts-go-client'}",
            "",
            out / "go",
            f"module={go_module}",
        ),
        (f"local: {BIN / 'protoc-gen-contracts-jsonschema'}", "", out / "jsonschema", ""),
    ]
    lines = ["version: v2", "plugins:"]
    for head, extra, dest, opt in plugins:
        lines.append(f"  - {head}")
        if extra:
            lines.append(f"    {extra}")
        lines.append(f"    out: {dest}")
        if opt:
            lines.append(f"    opt: {opt}")
    return "\n".join(lines) + "\n"


def synthetic(root: Path, files: int) -> None:
    """files .proto files over files/3 packages; 10 messages each, 1 service in every
    third file, each file importing the previous package's first file."""
    (root / "buf.yaml").write_text("version: v2\nmodules:\n  - path: proto\n")
    (root / "pyproject.toml").write_text(f'[tool.contracts]\ngo_module = "{GO_MODULE}"\n')
    packages = max(1, files // 3)
    for i in range(files):
        pkg = i % packages
        path = root / f"proto/bench/p{pkg}/v1/f{i}.proto"
        path.parent.mkdir(parents=True, exist_ok=True)
        imports = ""
        ref = "string"
        if pkg > 0 and i >= packages:
            imports = f'import "bench/p{pkg - 1}/v1/f{pkg - 1}.proto";\n'
            ref = f"bench.p{pkg - 1}.v1.M{pkg - 1}_0"
        body = [
            'syntax = "proto3";',
            f"package bench.p{pkg}.v1;",
            imports,
            f'option go_package = "{GO_MODULE}/bench/p{pkg}/v1;p{pkg}v1";',
        ]
        for m in range(10):
            body.append(
                f"message M{i}_{m} {{ string id = 1; int32 n = 2; repeated double xs = 3; "
                f"{ref} other = 4; map<string, int32> counts = 5; }}"
            )
        if i % 3 == 0:
            body.append(
                f"service S{i} {{ rpc Get(M{i}_0) returns (M{i}_1); "
                f"rpc Watch(M{i}_2) returns (stream M{i}_3); }}"
            )
        path.write_text("\n".join(body) + "\n")


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr[-3000:]}")
    return time.perf_counter() - start


def took_fast_path(root: Path) -> bool:
    """Whether `contracts gen` here answers without importing click (the no-op stamp)."""
    proc = subprocess.run(
        [str(BIN / "contracts"), "gen"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
    )
    return not any(line.endswith("| click") for line in proc.stderr.splitlines())


@dataclass
class Result:
    buf: float
    cold: float
    noop: float
    noop_full: float
    fast: bool  # the no-op runs took the fast path


# The click CLI without the console script's front door (codegen/entry.py).
FULL_PATH = [
    sys.executable,
    "-c",
    "import sys; sys.argv[0] = 'contracts'; from contracts_cli.cli import main; main()",
]


def noop_runs_for(runs: int) -> int:
    return max(runs, 10)


def bench(root: Path, runs: int, work: Path) -> Result:
    out = work / "buf-out"
    shim = work / "protoc-gen-grpc_python"
    shim.write_text(
        f"#!/bin/sh\nexec {sys.executable} {REPO / 'bench/protoc_gen_grpc_python.py'}\n"
    )
    shim.chmod(0o755)
    protoc = work / "protoc"
    protoc.write_text(f'#!/bin/sh\nexec {sys.executable} -m grpc_tools.protoc "$@"\n')
    protoc.chmod(0o755)
    go_module = GO_MODULE
    if (root / "pyproject.toml").is_file() and "go_module" in (root / "pyproject.toml").read_text():
        for line in (root / "pyproject.toml").read_text().splitlines():
            if line.startswith("go_module"):
                go_module = line.split("=", 1)[1].strip().strip('"')
    template = work / "buf.gen.yaml"
    template.write_text(buf_gen_yaml(out, shim, go_module))

    def buf_generate() -> float:
        shutil.rmtree(out, ignore_errors=True)
        return timed([str(BIN / "buf"), "generate", "--template", str(template)], root)

    def contracts_cold() -> float:
        shutil.rmtree(root / ".contracts-cache", ignore_errors=True)
        return timed([str(BIN / "contracts"), "gen"], root)

    base = statistics.median(buf_generate() for _ in range(runs))
    cold = statistics.median(contracts_cold() for _ in range(runs))
    fast = took_fast_path(root)
    # No-op runs are short enough for machine noise to matter: take more of them.
    noop_runs = noop_runs_for(runs)
    noop = statistics.median(timed([str(BIN / "contracts"), "gen"], root) for _ in range(noop_runs))
    # Last: its stamp is for another sys.path, so the console script's next run
    # would take the full path once.
    noop_full = statistics.median(timed([*FULL_PATH, "gen"], root) for _ in range(noop_runs))
    return Result(base, cold, noop, noop_full, fast)


def rows(label: str, r: Result) -> list[tuple[str, float, float]]:
    note = "" if r.fast else " [fell back to full path]"
    return [
        (f"{label}: buf generate", r.buf, 1.0),
        (f"{label}: contracts gen (cold)", r.cold, r.cold / r.buf),
        (f"{label}: contracts gen (no-op){note}", r.noop, r.noop / r.buf),
        (f"{label}: contracts gen (no-op, full path)", r.noop_full, r.noop_full / r.buf),
    ]


def print_growth(results: dict[int, Result]) -> None:
    print()
    print("growth: synthetic modules, 10 messages a file, a service in every third file")
    print(
        f"{'files':>5} {'messages':>8} {'services':>8} {'buf gen':>8} {'cold':>8} "
        f"{'no-op':>8} {'no-op full':>10} {'cold/buf':>8} {'no-op/buf':>9}"
    )
    for files, r in results.items():
        services = len(range(0, files, 3))
        print(
            f"{files:5} {files * 10:8} {services:8} {r.buf:8.3f} {r.cold:8.3f} "
            f"{r.noop:8.3f} {r.noop_full:10.3f} {r.cold / r.buf:7.2f}x {r.noop / r.buf:8.3f}x"
            + ("" if r.fast else "  no-op fell back to the full path")
        )


def sizes(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected sizes like 10,30,100") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be positive")
    return sorted(set(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per command (median)")
    parser.add_argument(
        "--sizes",
        type=sizes,
        default=[10, 30, 100, 300],
        help=".proto files in each synthetic module, comma-separated (default 10,30,100,300)",
    )
    args = parser.parse_args()
    table: list[tuple[str, float, float]] = []
    growth: dict[int, Result] = {}
    with tempfile.TemporaryDirectory(prefix="gen-bench-") as tmp:
        work = Path(tmp)
        repo_copy = work / "repo"
        repo_copy.mkdir()
        for name in ("buf.yaml", "pyproject.toml"):
            shutil.copy(REPO / name, repo_copy / name)
        shutil.copytree(REPO / "contracts", repo_copy / "contracts")
        (work / "r").mkdir()
        proto_count = len(list((repo_copy / "contracts").rglob("*.proto")))
        table += rows(f"repo ({proto_count} files)", bench(repo_copy, args.runs, work / "r"))
        for files in args.sizes:
            tree = work / f"synthetic-{files}"
            tree.mkdir()
            synthetic(tree, files)
            (work / f"s{files}").mkdir()
            growth[files] = bench(tree, args.runs, work / f"s{files}")
    largest = max(growth)
    table += rows(f"synthetic ({largest} files)", growth[largest])
    print(f"runs: {args.runs}, no-op runs: {noop_runs_for(args.runs)} (median wall time)")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("PYTHONDONTWRITEBYTECODE is set: the toolchain's own modules compile on every run")
    print(f"{'command':56} {'seconds':>9} {'vs buf':>8}")
    for label, seconds, ratio in table:
        print(f"{label:56} {seconds:9.3f} {ratio:7.3f}x")
    print_growth(growth)


if __name__ == "__main__":
    main()
