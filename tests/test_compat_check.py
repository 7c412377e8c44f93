"""Modes over several versions, imported types followed through references, and the
findings' places, paths and modes.

Grounded in Confluent Schema Registry (github.com/confluentinc/schema-registry):
transitive modes validate against every version and plain ones against the latest
(client/.../CompatibilityChecker.java); imported types are compared when the
reference changes, and a package rename of an import with the same type names is
allowed (the "import change" cases of
protobuf-provider/src/test/resources/diff-schema-examples.json).
"""

from __future__ import annotations

import json

import pytest
from compat_schemas import Compiler, p3
from google.protobuf import descriptor_pb2

from compat_checks.compat import DifferenceType, Mode, Policy, Schema, check, differences
from contracts_core.errors import UsageError
from contracts_core.render import render_json

D = DifferenceType

V1 = p3("message M {\n  int32 a = 1;\n  string b = 2;\n}\n")
V2 = p3("message M {\n  int32 a = 1;\n  reserved 2;\n}\n")
# Number 2 reused with a type of another wire group: fine against v2, not against v1.
V3 = p3("message M {\n  int32 a = 1;\n  double c = 2;\n}\n")


def versions(compiler: Compiler, *sources: str) -> list[Schema]:
    return [compiler.schema(s, label=f"version {i + 1}") for i, s in enumerate(sources)]


def test_transitive_modes_look_at_every_version_plain_ones_at_the_latest(
    compiler: Compiler,
) -> None:
    previous = versions(compiler, V1, V2)
    new = compiler.schema(V3)
    for mode in (Mode.NONE, Mode.BACKWARD, Mode.FORWARD, Mode.FULL):
        assert check(new, previous, mode) == [], mode
    (back,) = check(new, previous, Mode.BACKWARD_TRANSITIVE)
    assert (back.rule, back.path) == ("FIELD_SCALAR_KIND_CHANGED", "#/M/2")
    assert back.violates == ("BACKWARD_TRANSITIVE", "FULL_TRANSITIVE")
    assert "cannot read data written with version 1" in back.message
    assert "(string -> double)" in back.message
    (fwd,) = check(new, previous, Mode.FORWARD_TRANSITIVE)
    assert fwd.violates == ("FORWARD_TRANSITIVE", "FULL_TRANSITIVE")
    assert "version 1 cannot read data written with the new schema" in fwd.message
    full = check(new, previous, Mode.FULL_TRANSITIVE)
    assert sorted((f.path, f.violates) for f in full) == sorted(
        (f.path, f.violates) for f in (back, fwd)
    )


def test_a_difference_found_against_several_versions_is_one_finding(compiler: Compiler) -> None:
    previous = versions(compiler, V1, V1.replace("int32 a", "int64 a"))
    new = compiler.schema(V3)
    (finding,) = check(new, previous, Mode.BACKWARD_TRANSITIVE)
    assert "version 1 and version 2" in finding.message
    # Found against the latest version too, so the plain mode fails as well.
    assert finding.violates == ("BACKWARD", "BACKWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE")
    (plain,) = check(new, previous, Mode.BACKWARD)
    assert (plain.path, plain.violates) == ("#/M/2", finding.violates)
    assert "version 1" not in plain.message


def test_findings_point_at_the_new_element_with_path_and_modes(compiler: Compiler) -> None:
    old = compiler.schema(V1)
    new = compiler.schema(p3("message M {\n  int32 a = 1;\n\n  bytes b = 2;\n  sint32 d = 4;\n}\n"))
    assert check(new, [old], Mode.FULL) == []
    new = compiler.schema(p3("message M {\n  int32 a = 1;\n\n  fixed64 b = 2;\n}\n"))
    (f, g) = check(new, [old], Mode.FULL)
    assert (f.file, f.line, f.column, f.rule) == ("a.proto", 6, 3, "FIELD_SCALAR_KIND_CHANGED")
    assert (g.file, g.line) == ("a.proto", 6)
    (item, _) = json.loads(render_json([f, g]))
    assert item["path"] == "#/M/2"
    assert set(item["violates"]) <= {m.value for m in Mode}
    # A removed message has no element in the new schema: the finding names its file.
    gone = check(compiler.schema(p3("message N {}\n")), [old], Mode.BACKWARD)
    assert [(x.rule, x.path, x.file) for x in gone] == [("MESSAGE_REMOVED", "#/M", "a.proto")]


DEP = 'syntax = "proto3";\npackage dep.v1;\nmessage Home {\n  int32 id = 1;\n  bool on = 2;\n}\n'
ROOT = (
    'syntax = "proto3";\npackage t.v1;\nimport "dep.proto";\n'
    "message M {\n  dep.v1.Home home = 1;\n}\n"
)


def rooted(dep: str, root: str = ROOT) -> dict[str, str]:
    return {"dep.proto": dep, "a.proto": root}


def test_imported_types_are_followed_through_references(compiler: Compiler) -> None:
    old = compiler.schema(rooted(DEP))
    changed = compiler.schema(rooted(DEP.replace("int32 id", "string id")))
    found = {(d.type, d.path) for d in differences(old, changed)}
    assert found == {
        (D.FIELD_SCALAR_KIND_CHANGED, "#/Home/1"),
        (D.FIELD_NAMED_TYPE_CHANGED, "#/M/1"),
    }
    findings = check(changed, [old], Mode.BACKWARD)
    inner = next(f for f in findings if f.path == "#/Home/1")
    assert (inner.file, inner.line) == ("dep.proto", 4)  # the new `string id = 1;`
    # Another package for the import, same type names and shapes: allowed.
    moved = DEP.replace("dep.v1", "dep.v2")
    renamed = compiler.schema(rooted(moved, ROOT.replace("dep.v1.Home", "dep.v2.Home")))
    assert differences(old, renamed) == []
    # An unchanged import is not compared again; a compatible change inside it passes.
    assert differences(old, compiler.schema(rooted(DEP))) == []
    grown = compiler.schema(rooted(DEP.replace("bool on = 2;", "bool on = 2;\n  string x = 3;")))
    assert {d.type for d in differences(old, grown)} == {D.FIELD_ADDED}
    assert check(grown, [old], Mode.BACKWARD) == []


def test_a_type_moved_from_the_root_into_an_import_is_a_removal(compiler: Compiler) -> None:
    local = compiler.schema(
        p3("message M {\n  Home home = 1;\n}\nmessage Home {\n  int32 id = 1;\n  bool on = 2;\n}\n")
    )
    imported = compiler.schema(rooted(DEP))
    assert {d.type for d in differences(local, imported)} == {D.MESSAGE_REMOVED}
    assert [f.rule for f in check(imported, [local], Mode.BACKWARD)] == ["MESSAGE_REMOVED"]
    assert check(imported, [local], Mode.FORWARD) == []


def test_recursive_and_well_known_imported_types(compiler: Compiler) -> None:
    dep = (
        'syntax = "proto3";\npackage dep.v1;\nimport "google/protobuf/timestamp.proto";\n'
        "message Node {\n  repeated Node children = 1;\n  google.protobuf.Timestamp at = 2;\n  int32 v = 3;\n}\n"
    )
    root = ROOT.replace("dep.v1.Home home", "dep.v1.Node node")
    old = compiler.schema(rooted(dep, root))
    new = compiler.schema(rooted(dep.replace("int32 v", "string v"), root))
    found = {(d.type, d.path) for d in differences(old, new)}
    assert found == {
        (D.FIELD_SCALAR_KIND_CHANGED, "#/Node/3"),
        (D.FIELD_NAMED_TYPE_CHANGED, "#/M/1"),
    }


def test_a_type_imported_by_several_fields_is_listed_once(compiler: Compiler) -> None:
    root = ROOT.replace(
        "dep.v1.Home home = 1;", "dep.v1.Home home = 1;\n  repeated dep.v1.Home more = 2;"
    )
    old = compiler.schema(rooted(DEP, root))
    new = compiler.schema(rooted(DEP.replace("bool on", "double on"), root))
    found = [(d.type, d.path) for d in differences(old, new)]
    assert sorted(found) == [
        (D.FIELD_NAMED_TYPE_CHANGED, "#/M/1"),
        (D.FIELD_NAMED_TYPE_CHANGED, "#/M/2"),
        (D.FIELD_SCALAR_KIND_CHANGED, "#/Home/2"),
    ]


def test_descriptors_without_json_names_read_as_protoc_names_them(compiler: Compiler) -> None:
    # A client may send a FileDescriptorProto without json_name: no false rename.
    image = compiler.image(
        {"a.proto": p3("message M {\n  int32 order_id = 1;\n  string x__y_ = 2;\n}\n")}
    )
    bare = descriptor_pb2.FileDescriptorProto()
    bare.CopyFrom(image.files["a.proto"])
    for field in bare.message_type[0].field:
        field.ClearField("json_name")
    assert (
        differences(Schema.from_image(image, "a.proto"), Schema.from_files([bare], "a.proto")) == []
    )


def test_nested_imported_type_path(compiler: Compiler) -> None:
    dep = 'syntax = "proto3";\npackage dep.v1;\nmessage Outer {\n  message Home {\n    int32 id = 1;\n  }\n}\n'
    root = ROOT.replace("dep.v1.Home", "dep.v1.Outer.Home")
    old = compiler.schema(rooted(dep, root))
    new = compiler.schema(rooted(dep.replace("int32 id", "float id"), root))
    assert {(d.type, d.path) for d in differences(old, new)} == {
        (D.FIELD_SCALAR_KIND_CHANGED, "#/Outer/Home/1"),
        (D.FIELD_NAMED_TYPE_CHANGED, "#/M/1"),
    }


def test_map_entries_are_not_messages(compiler: Compiler) -> None:
    old = compiler.schema(
        p3("message M {\n  map<string, X> a = 1;\n}\nmessage X {\n  int32 v = 1;\n}\n")
    )
    same = compiler.schema(
        p3(
            "message M {\n  map<string, X> a = 1;\n  map<int32, X> b = 2;\n}\nmessage X {\n  int32 v = 1;\n}\n"
        )
    )
    # The new map's entry message (M.BEntry) is neither a message added nor compared.
    assert {(d.type, d.path) for d in differences(old, same)} == {(D.FIELD_ADDED, "#/M/2")}
    other = compiler.schema(
        p3(
            "message M {\n  map<string, Y> a = 1;\n}\nmessage X {\n  int32 v = 1;\n}\nmessage Y {}\n"
        )
    )
    assert (D.FIELD_NAMED_TYPE_CHANGED, "#/M/1") in {
        (d.type, d.path) for d in differences(old, other)
    }


def test_json_policy_keeps_wire_verdicts(compiler: Compiler) -> None:
    old, new = compiler.schema(V1), compiler.schema(V3)
    wire = check(new, [old], Mode.BACKWARD)
    both = check(new, [old], Mode.BACKWARD, Policy.JSON)
    assert {f.rule for f in wire} == {"FIELD_SCALAR_KIND_CHANGED"}
    assert {f.rule for f in both} == {
        "FIELD_SCALAR_KIND_CHANGED",
        "FIELD_NAME_CHANGED",
        "FIELD_JSON_NAME_CHANGED",
    }


def test_modes_parse_and_bad_input_is_named(compiler: Compiler) -> None:
    assert Mode.parse(" backward_transitive") is Mode.BACKWARD_TRANSITIVE
    with pytest.raises(UsageError, match=r"SIDEWAYS.*FULL_TRANSITIVE"):
        Mode.parse("SIDEWAYS")
    image = compiler.image({"a.proto": V1})
    with pytest.raises(UsageError, match=r"'b.proto' is not among the files \(a.proto\)"):
        Schema.from_image(image, "b.proto")
    assert check(compiler.schema(V3), [], Mode.FULL_TRANSITIVE) == []
