"""The load generator's KServe v2 client (bench/loadgen/kservev2) is what its generate
script writes from the committed proto, byte for byte, with the pinned plugins."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import REPO

LOADGEN = REPO / "bench" / "loadgen"


def test_kservev2_is_what_generate_writes(tmp_path: Path) -> None:
    subprocess.run([str(LOADGEN / "generate.sh"), str(tmp_path)], check=True, timeout=120)
    committed = LOADGEN / "kservev2"
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["grpc_service.pb.go", "grpc_service_grpc.pb.go"]
    for name in written:
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name
