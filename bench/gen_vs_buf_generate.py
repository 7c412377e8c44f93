"""contracts gen against buf generate with the same plugins, side by side.

    .venv/bin/python bench/gen_vs_buf_generate.py [--runs N] [--files 300]

Both produce the same Python (_pb2, _pb2_grpc, mypy .pyi) and Go (protoc-gen-go,
protoc-gen-go-grpc) files; contracts gen also writes go.mod/go.sum (go mod tidy)
and package files. Rows: this repo's contracts, then a synthetic module the
benchmark writes itself. `cold` clears every cache; `no-op` is a second run on
an unchanged tree. Ratios are against buf generate on the same tree.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr[-3000:]}")
    return time.perf_counter() - start


def bench(label: str, root: Path, runs: int, work: Path) -> list[tuple[str, float, float]]:
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
    noop = statistics.median(timed([str(BIN / "contracts"), "gen"], root) for _ in range(runs))
    return [
        (f"{label}: buf generate", base, 1.0),
        (f"{label}: contracts gen (cold)", cold, cold / base),
        (f"{label}: contracts gen (no-op)", noop, noop / base),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=300)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gen-bench-") as tmp:
        work = Path(tmp)
        repo_copy = work / "repo"
        repo_copy.mkdir()
        for name in ("buf.yaml", "pyproject.toml"):
            shutil.copy(REPO / name, repo_copy / name)
        shutil.copytree(REPO / "contracts", repo_copy / "contracts")
        (work / "r").mkdir()
        rows += bench("repo (6 files)", repo_copy, args.runs, work / "r")
        big = work / "synthetic"
        big.mkdir()
        synthetic(big, args.files)
        (work / "s").mkdir()
        rows += bench(f"synthetic ({args.files} files)", big, args.runs, work / "s")
    print(f"runs: {args.runs} (median wall time)")
    print(f"{'command':46} {'seconds':>9} {'vs buf':>8}")
    for label, seconds, ratio in rows:
        print(f"{label:46} {seconds:9.3f} {ratio:7.2f}x")


if __name__ == "__main__":
    main()
