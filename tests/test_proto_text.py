"""`proto_text.render`, proven by round trips: every .proto of the repo's contracts
and test fixtures, compiled by buf, rendered as text and compiled again by the
registry's compiler (protoc), is the same descriptor, up to what text cannot
carry (`comparable`). `fixtures/proto_text/` holds the constructs the other
fixtures lack (proto2 groups and defaults, custom options of every kind as
API annotation files declare them, editions, weak and public imports)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BUF, REPO, run_bounded
from google.protobuf import descriptor_pb2

from compat_checks.registry.compiler import ROOT_NAME, compile_schema
from compat_checks.registry.proto_text import UnrenderableSchema, comparable, quote, render

FIXTURES = REPO / "tests/fixtures"
# Buf workspaces: the repo (its contracts module) and every fixture with a buf.yaml.
ROOTS = [REPO, *sorted(p.parent for p in FIXTURES.rglob("buf.yaml"))]
WELL_KNOWN = "google/protobuf/"


def _buf_build(root: Path, out: Path) -> descriptor_pb2.FileDescriptorSet:
    built = run_bounded(
        [str(BUF), "build", str(root), "--as-file-descriptor-set", "-o", str(out)],
        cwd=root,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    files = descriptor_pb2.FileDescriptorSet()
    files.ParseFromString(out.read_bytes())
    return files


def _round_trip(
    file: descriptor_pb2.FileDescriptorProto, deps: list[descriptor_pb2.FileDescriptorProto]
) -> tuple[str, descriptor_pb2.FileDescriptorProto]:
    text = render(file, deps)
    _, compiled = compile_schema(text, deps)
    return text, next(f for f in compiled.file if f.name == ROOT_NAME)


@pytest.mark.parametrize("root", ROOTS, ids=lambda p: str(p.relative_to(REPO)) or "contracts")
def test_every_file_compiles_back_to_its_descriptor(root: Path, tmp_path: Path) -> None:
    built = _buf_build(root, tmp_path / "image.binpb")
    own = [f for f in built.file if not f.name.startswith(WELL_KNOWN)]
    assert own, root
    for file in own:
        deps = [f for f in built.file if f.name != file.name]
        text, again = _round_trip(file, deps)
        assert comparable(again, deps) == comparable(file, deps), f"{file.name} rendered as\n{text}"


def test_the_fixture_exercises_each_construct(tmp_path: Path) -> None:
    built = _buf_build(FIXTURES / "proto_text", tmp_path / "image.binpb")
    by_name = {f.name: f for f in built.file}
    texts = "\n".join(render(by_name[n], built.file) for n in by_name if "/v1/" in n)
    for construct in [
        "optional group Result = 20 {",
        "repeated group Snippet = 22 {",
        "map<string, .shop.v1.Order.Line> children = 3;",
        "optional string note = 5;",
        "oneof payment {",
        "import weak ",
        "import public ",
        'edition = "2023";',
        "extend .legacy.v1.Base {",
        "extensions 1000 to max;",
        "reserved 5, 8 to 10, 100 to max;",
        'json_name = "id"',
        "[default = -inf]",
        '(.opts.v1.http) = { get: "/v1/{order_id=orders/*}" additional_bindings {',
        "(.opts.v1.behavior) = IMMUTABLE, (.opts.v1.behavior) = OUTPUT_ONLY",
        'option go_package = "example.com/shop/v1;shopv1";',
        "rpc Chat(stream .shop.v1.Order) returns (stream .shop.v1.Order);",
        "reserved old_name, older;",
        "extensions 5000 to 5999 [verification = UNVERIFIED];",
        "option message_set_wire_format = true;",
    ]:
        assert construct in texts, construct
    # A json_name equal to protoc's derivation is not written: protoc derives it again.
    assert "flagWithJson" not in texts


def test_comparable_keeps_what_text_carries() -> None:
    file = descriptor_pb2.FileDescriptorProto(name="a.proto", package="p", syntax="proto2")
    field = file.message_type.add(name="M").field.add(name="order_id", number=1)
    field.json_name = "orderId"
    other = descriptor_pb2.FileDescriptorProto()
    other.CopyFrom(file)
    other.name = "b.proto"
    other.ClearField("syntax")
    other.message_type[0].field[0].ClearField("json_name")
    assert comparable(file) == comparable(other)
    other.message_type[0].field[0].json_name = "id"
    assert comparable(file) != comparable(other)


def _file_with_custom_option() -> tuple[
    descriptor_pb2.FileDescriptorProto, descriptor_pb2.FileDescriptorProto
]:
    annotations = _annotations()
    text = (FIXTURES / "proto_text/shop/v1/shop.proto").read_text(encoding="utf-8")
    _, compiled = compile_schema(text, [annotations])
    return next(f for f in compiled.file if f.name == ROOT_NAME), annotations


def _annotations() -> descriptor_pb2.FileDescriptorProto:
    path = FIXTURES / "proto_text/opts/v1/annotations.proto"
    _, compiled = compile_schema(path.read_text(encoding="utf-8"), [])
    file = next(f for f in compiled.file if f.name == ROOT_NAME)
    file.name = "opts/v1/annotations.proto"
    return file


def test_a_custom_option_no_given_file_defines_is_refused() -> None:
    file, annotations = _file_with_custom_option()
    # annotations.proto imports timestamp.proto, which a registry leaves out.
    text = render(file, [annotations])
    assert "option (.opts.v1.since) = { seconds: 1700000000 nanos: 5 };" in text
    with pytest.raises(UnrenderableSchema, match=r"51000, 51001\] of google.protobuf.FileOptions"):
        render(file, [])


def test_a_oneof_split_by_another_field_is_refused() -> None:
    file = descriptor_pb2.FileDescriptorProto(name="a.proto", package="p", syntax="proto3")
    message = file.message_type.add(name="M")
    message.oneof_decl.add(name="choice")
    for number, name in enumerate(["a", "b", "c"], start=1):
        message.field.add(
            name=name, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT32
        )
    message.field[0].oneof_index = 0
    message.field[2].oneof_index = 0
    with pytest.raises(UnrenderableSchema, match=r"p\.M: the fields of oneof choice"):
        render(file)


def test_quote_escapes_what_is_not_printable_ascii() -> None:
    assert quote(b'a"b\\c\n\x00\xff') == '"a\\"b\\\\c\\n\\000\\377"'
