"""Running protoc plugins on the compiled image, as protoc and buf do.

One CodeGeneratorRequest carries every file of the image (dependencies first,
as buf orders them) and names the workspace's own files as the ones to
generate; the plugin answers with whole files. No protoc is involved.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.compiler import plugin_pb2

from codegen.gen import tree
from contracts_core.errors import ToolError
from contracts_core.image import Image

# Features a plugin must declare before it may see files that use them.
_PROTO3_OPTIONAL = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL


@dataclass(frozen=True)
class PluginRun:
    name: str  # as in protoc-gen-NAME, for messages
    binary: Path
    parameter: str = ""


def request(image: Image, parameter: str) -> plugin_pb2.CodeGeneratorRequest:
    req = plugin_pb2.CodeGeneratorRequest(parameter=parameter)
    req.file_to_generate.extend(f.name for f in image.target_files())
    req.proto_file.extend(image.descriptor_set.file)
    # buf's images carry their own extension on each file (module and import
    # facts, field 8042). Plugins such as protoc-gen-go embed the raw file
    # descriptor in generated code, so that private data must not reach them.
    for file in req.proto_file:
        file.DiscardUnknownFields()
    return req


def run(image: Image, runs: list[PluginRun], out: Path) -> None:
    """Run plugins concurrently and write their files under `out`."""

    def one(run: PluginRun) -> plugin_pb2.CodeGeneratorResponse:
        payload = request(image, run.parameter).SerializeToString()
        try:
            proc = subprocess.run(
                [str(run.binary)], input=payload, capture_output=True, check=False
            )
        except OSError as exc:
            raise ToolError(
                f"protoc-gen-{run.name} at {run.binary} could not start: {exc}"
            ) from None
        if proc.returncode != 0:
            raise ToolError(
                f"protoc-gen-{run.name} failed (exit {proc.returncode}): {proc.stderr.decode().strip()}"
            )
        response = plugin_pb2.CodeGeneratorResponse.FromString(proc.stdout)
        if response.error:
            raise ToolError(f"protoc-gen-{run.name}: {response.error}")
        return response

    with ThreadPoolExecutor(max_workers=max(1, len(runs))) as pool:
        responses = list(pool.map(one, runs))
    for run_, response in zip(runs, responses, strict=True):
        if any(file.insertion_point for file in response.file):
            raise ToolError(f"protoc-gen-{run_.name}: insertion points are not supported")
        files = {file.name: file.content for file in response.file}
        tree.write_files(out, files, f"protoc-gen-{run_.name}")
