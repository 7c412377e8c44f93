"""Running protoc plugins on the compiled image, as protoc and buf do.

One CodeGeneratorRequest carries every file of the image (dependencies first,
as buf orders them) and names the workspace's own files as the ones to
generate; the plugin answers with whole files. No protoc is involved.
"""

from __future__ import annotations

import re
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


# protoc's own warnings (`x.proto: warning: Import y.proto is unused.`) and
# mypy-protobuf's (`Warning: Field f: ...`); its progress lines are chatter.
_WARNING = re.compile(r"^(\S[^:]*:(\d+:\d+:)? warning: |Warning: )")
_CHATTER = re.compile(r"^Writing mypy to ")


def summarize(stderr: str) -> str:
    """A failed generator's stderr with its errors first and the warnings counted
    behind them, so hundreds of `Import ... is unused` never bury the error."""
    errors: list[str] = []
    warnings = 0
    for line in stderr.strip().splitlines():
        if _WARNING.match(line):
            warnings += 1
        elif not _CHATTER.match(line):
            errors.append(line)
    if warnings:
        errors.append(f"... and {warnings} warning{'s' if warnings != 1 else ''}")
    return "\n".join(errors)


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
                f"protoc-gen-{run.name} failed (exit {proc.returncode}):\n"
                f"{summarize(proc.stderr.decode(errors='replace'))}"
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
