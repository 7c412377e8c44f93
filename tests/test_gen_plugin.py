"""The protoc plugin runner: one request from the image, whole files back."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import REPO, run_contracts, write_tree

from codegen.gen import plugin
from contracts_core.errors import ToolError
from contracts_core.image import Image, compile_workspace
from contracts_core.workspace import Workspace

PLUGIN = """#!{python}
import sys
from google.protobuf.compiler import plugin_pb2

req = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
res = plugin_pb2.CodeGeneratorResponse()
{body}
sys.stdout.buffer.write(res.SerializeToString())
"""


def _plugin(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "protoc-gen-fake"
    path.write_text(PLUGIN.format(python=sys.executable, body=body))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def image() -> Image:
    ws = Workspace.discover(root=REPO)
    return compile_workspace(ws)


def test_request_names_workspace_files_and_carries_dependencies(
    image: Image, tmp_path: Path
) -> None:
    body = (
        "f = res.file.add(); f.name = 'listing.txt'\n"
        "f.content = req.parameter + '\\n' + '\\n'.join(req.file_to_generate) + "
        "'\\n--\\n' + '\\n'.join(p.name for p in req.proto_file)"
    )
    plugin.run(image, [plugin.PluginRun("fake", _plugin(tmp_path, body), "a=b")], tmp_path / "out")
    head, deps = (tmp_path / "out/listing.txt").read_text().split("\n--\n")
    lines = head.splitlines()
    assert lines[0] == "a=b"
    assert "fleet/tasks/v1/envelope.proto" in lines[1:]
    assert "google/protobuf/timestamp.proto" not in lines[1:]
    dep_names = deps.splitlines()
    # Dependencies come before the files that import them.
    assert dep_names.index("google/protobuf/timestamp.proto") < dep_names.index(
        "fleet/tasks/v1/envelope.proto"
    )


def test_plugin_error_is_reported(image: Image, tmp_path: Path) -> None:
    runner = plugin.PluginRun("fake", _plugin(tmp_path, "res.error = 'bad option x'"))
    with pytest.raises(ToolError, match="protoc-gen-fake: bad option x"):
        plugin.run(image, [runner], tmp_path / "out")


def test_plugin_may_not_write_outside_its_folder(image: Image, tmp_path: Path) -> None:
    body = "f = res.file.add(); f.name = '../escaped.txt'; f.content = 'x'"
    with pytest.raises(ToolError, match="outside its folder"):
        plugin.run(image, [plugin.PluginRun("fake", _plugin(tmp_path, body))], tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def test_two_plugins_may_not_write_the_same_file(image: Image, tmp_path: Path) -> None:
    body = "f = res.file.add(); f.name = 'same.txt'; f.content = 'x'"
    runs = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        runs.append(plugin.PluginRun(name, _plugin(tmp_path / name, body)))
    with pytest.raises(ToolError, match=r"protoc-gen-two wrote same\.txt, which another"):
        plugin.run(image, runs, tmp_path / "out")


def test_buf_private_image_data_never_reaches_plugins(image: Image, tmp_path: Path) -> None:
    # protoc-gen-go embeds each raw file descriptor in its output; buf's image
    # extension (an unknown field to everyone else) must be stripped first.
    body = (
        "from google.protobuf import descriptor_pb2\n"
        "for f in req.proto_file:\n"
        "    clean = descriptor_pb2.FileDescriptorProto(); clean.CopyFrom(f)\n"
        "    clean.DiscardUnknownFields()\n"
        "    if clean.SerializeToString() != f.SerializeToString():\n"
        "        res.error = 'unknown fields in ' + f.name\n"
    )
    plugin.run(image, [plugin.PluginRun("fake", _plugin(tmp_path, body))], tmp_path / "out")


def test_plugin_error_comes_before_its_warnings(image: Image, tmp_path: Path) -> None:
    body = (
        "for i in range(312):\n"
        "    print(f'a/f{i}.proto:1:1: warning: Import b.proto is unused.', file=sys.stderr)\n"
        "print('fatal: option x is not supported', file=sys.stderr)\n"
        "sys.exit(1)\n"
    )
    runner = plugin.PluginRun("fake", _plugin(tmp_path, body))
    with pytest.raises(ToolError) as err:
        plugin.run(image, [runner], tmp_path / "out")
    assert err.value.message == (
        "protoc-gen-fake failed (exit 1):\nfatal: option x is not supported\n... and 312 warnings"
    )


def test_summarize_keeps_every_error_line_in_order() -> None:
    stderr = (
        "x.proto: warning: Import y.proto is unused.\n"
        "Writing mypy to x_pb2.pyi\n"
        "Warning: Field f: (mypy_protobuf.casttype) is deprecated.\n"
        "Traceback (most recent call last):\n"
        "AssertionError: boom\n"
        "--mypy_out: protoc-gen-mypy: Plugin failed with status code 1.\n"
    )
    assert plugin.summarize(stderr) == (
        "Traceback (most recent call last):\nAssertionError: boom\n"
        "--mypy_out: protoc-gen-mypy: Plugin failed with status code 1.\n... and 2 warnings"
    )
    assert plugin.summarize("only: an error\n") == "only: an error"


CLASH = {
    "buf.yaml": "version: v2\n",
    "acme/options.proto": """
        syntax = "proto3";
        package acme;
        import "google/protobuf/descriptor.proto";
        extend google.protobuf.FieldOptions {
          // The same number as mypy-protobuf's own casttype option.
          string label = 1151;
        }
    """,
    "shop/item.proto": """
        syntax = "proto3";
        package shop;
        import "acme/options.proto";
        import "google/protobuf/timestamp.proto";
        message Item {
          message Part {
            string name = 1 [(acme.label) = "display name"];
          }
        }
    """,
}


def test_option_numbered_like_mypy_protobufs_own_is_named(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_tree(root, CLASH)
    result = run_contracts("gen", "--target", "python", cwd=root)
    assert result.code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "contracts: python generation failed (protoc from grpcio-tools):"
    assert lines[1] == (
        "shop/item.proto: field shop.Item.Part.name sets option (acme.label), number 1151 "
        "on google.protobuf.FieldOptions (declared in acme/options.proto), which mypy-protobuf "
        "reads as its own (mypy_protobuf.casttype) and fails on; give that extension a number "
        "outside 1151-1154"
    )
    assert "AssertionError" in result.stderr
    # The unused timestamp import's warning (and mypy-protobuf's own) come last, counted.
    assert lines[-1] == "... and 2 warnings"
    assert not (root / "generated").exists()
