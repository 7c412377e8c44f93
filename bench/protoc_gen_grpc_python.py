"""A protoc plugin wrapper around grpcio-tools' built-in grpc_python generator.

grpcio-tools ships grpc_python only inside its bundled protoc, and buf runs
protoc builtins only for protoc's own languages, so `buf generate` needs this
shim to produce the same _pb2_grpc.py files `contracts gen` does. Benchmark use
only.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2


def main() -> None:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse()
    with tempfile.TemporaryDirectory() as tmp:
        fds = descriptor_pb2.FileDescriptorSet(file=request.proto_file)
        (Path(tmp) / "set.binpb").write_bytes(fds.SerializeToString())
        out = Path(tmp) / "out"
        out.mkdir()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"--descriptor_set_in={tmp}/set.binpb",
                f"--grpc_python_out={out}",
                *request.file_to_generate,
            ],
            check=True,
        )
        for path in sorted(out.rglob("*.py")):
            item = response.file.add()
            item.name = path.relative_to(out).as_posix()
            item.content = path.read_text()
    sys.stdout.buffer.write(response.SerializeToString())


if __name__ == "__main__":
    main()
