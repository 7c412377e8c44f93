"""Each Protobuf difference type, with its verdict in every mode, against one version.

Expectations follow Confluent Schema Registry's Protobuf rules, learned from its
diff package (protobuf-provider/src/main/java/.../protobuf/diff/*.java) and its
test table protobuf-provider/src/test/resources/diff-schema-examples.json in
github.com/confluentinc/schema-registry: which differences are compatible
(SchemaDiff.COMPATIBLE_CHANGES) and how BACKWARD compares old-writes/new-reads
and FORWARD the reverse (client/.../SchemaValidatorBuilder.java).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from compat_schemas import Compiler, p3

from compat_checks.compat import DifferenceType, Mode, Policy, check, differences

D = DifferenceType
BACKWARD_FAILS = {Mode.BACKWARD, Mode.BACKWARD_TRANSITIVE, Mode.FULL, Mode.FULL_TRANSITIVE}
FORWARD_FAILS = {Mode.FORWARD, Mode.FORWARD_TRANSITIVE, Mode.FULL, Mode.FULL_TRANSITIVE}


@dataclass(frozen=True)
class Case:
    name: str
    old: str
    new: str
    # Every difference when the new schema reads the old one's data: (type, path).
    found: frozenset[tuple[D, str]]
    # Which directions break on the wire: "B" backward, "F" forward.
    breaks: str


def case(name: str, old: str, new: str, found: set[tuple[D, str]], breaks: str) -> Case:
    return Case(name, old, new, frozenset(found), breaks)


MSG = "message M {\n  int32 a = 1;\n  string b = 2;\n}\n"

CASES = [
    # Confluent: "Detect package change" is incompatible both ways.
    case(
        "PACKAGE_CHANGED",
        p3(MSG),
        'syntax = "proto3";\npackage t.v2;\n' + MSG,
        {(D.PACKAGE_CHANGED, "#/")},
        "BF",
    ),
    # A message the reader lacks fails BACKWARD; one it gains fails FORWARD (the old
    # schema, reading, lacks it): Confluent's checks are per file, not per used type.
    case("MESSAGE_REMOVED", p3(MSG + "message X {}\n"), p3(MSG), {(D.MESSAGE_REMOVED, "#/X")}, "B"),
    case("MESSAGE_ADDED", p3(MSG), p3(MSG + "message X {}\n"), {(D.MESSAGE_ADDED, "#/X")}, "F"),
    case(
        "MESSAGE_RENAMED",
        p3(MSG + "message X {}\n"),
        p3(MSG + "message Y {}\n"),
        {(D.MESSAGE_REMOVED, "#/X"), (D.MESSAGE_ADDED, "#/Y")},
        "BF",
    ),
    # Reordering is harmless: a frame's message indexes refer to its writer's schema.
    case(
        "MESSAGE_MOVED",
        p3(MSG + "message X {}\n"),
        p3("message X {}\n" + MSG),
        {(D.MESSAGE_MOVED, "#/M"), (D.MESSAGE_MOVED, "#/X")},
        "",
    ),
    case(
        "FIELD_ADDED",
        p3(MSG),
        p3("message M {\n  int32 a = 1;\n  string b = 2;\n  bool c = 3;\n}\n"),
        {(D.FIELD_ADDED, "#/M/3")},
        "",
    ),
    case(
        "FIELD_REMOVED",
        p3(MSG),
        p3("message M {\n  int32 a = 1;\n}\n"),
        {(D.FIELD_REMOVED, "#/M/2")},
        "",
    ),
    # Reserving the number changes nothing for Confluent: removal is allowed either way.
    case(
        "FIELD_REMOVED_RESERVED",
        p3(MSG),
        p3('message M {\n  int32 a = 1;\n  reserved 2;\n  reserved "b";\n}\n'),
        {(D.FIELD_REMOVED, "#/M/2")},
        "",
    ),
    case(
        "FIELD_NAME_CHANGED",
        p3(MSG),
        p3("message M {\n  int32 a = 1;\n  string bee = 2;\n}\n"),
        {(D.FIELD_NAME_CHANGED, "#/M/2"), (D.FIELD_JSON_NAME_CHANGED, "#/M/2")},
        "",
    ),
    case(
        "FIELD_JSON_NAME_CHANGED",
        p3(MSG),
        p3('message M {\n  int32 a = 1;\n  string b = 2 [json_name = "bee"];\n}\n'),
        {(D.FIELD_JSON_NAME_CHANGED, "#/M/2")},
        "",
    ),
    case(
        "FIELD_SCALAR_KIND_CHANGED",
        p3(MSG),
        p3("message M {\n  string a = 1;\n  string b = 2;\n}\n"),
        {(D.FIELD_SCALAR_KIND_CHANGED, "#/M/1")},
        "BF",
    ),
    # Varints of both encodings, and zigzag, do not mix.
    case(
        "SCALAR_ZIGZAG",
        p3(MSG),
        p3("message M {\n  sint32 a = 1;\n  string b = 2;\n}\n"),
        {(D.FIELD_SCALAR_KIND_CHANGED, "#/M/1")},
        "BF",
    ),
    # Within a group: int32/int64/uint32/uint64/bool (and enums) read each other.
    case(
        "SCALAR_SAME_GROUP",
        p3(MSG),
        p3("message M {\n  uint64 a = 1;\n  bytes b = 2;\n}\n"),
        set(),
        "",
    ),
    case(
        "SCALAR_FIXED_GROUP",
        p3("message M {\n  fixed32 a = 1;\n  float f = 2;\n}\n"),
        p3("message M {\n  sfixed32 a = 1;\n  double f = 2;\n}\n"),
        {(D.FIELD_SCALAR_KIND_CHANGED, "#/M/2")},
        "BF",
    ),
    case(
        "ENUM_TO_INT",
        p3("enum E {\n  E_UNSPECIFIED = 0;\n}\nmessage M {\n  E a = 1;\n}\n"),
        p3("enum E {\n  E_UNSPECIFIED = 0;\n}\nmessage M {\n  int64 a = 1;\n}\n"),
        set(),
        "",
    ),
    case(
        "FIELD_KIND_CHANGED",
        p3(MSG + "message X {}\n"),
        p3("message M {\n  X a = 1;\n  string b = 2;\n}\nmessage X {}\n"),
        {(D.FIELD_KIND_CHANGED, "#/M/1")},
        "BF",
    ),
    case(
        "MAP_TO_MESSAGE",
        p3("message M {\n  map<string, int32> a = 1;\n}\n"),
        p3(
            "message M {\n  repeated Entry a = 1;\n  message Entry {\n    string key = 1;\n    int32 value = 2;\n  }\n}\n"
        ),
        {(D.FIELD_KIND_CHANGED, "#/M/1"), (D.MESSAGE_ADDED, "#/M/Entry")},
        "BF",
    ),
    case(
        "SCALAR_TO_MAP",
        p3("message M {\n  string a = 1;\n}\n"),
        p3("message M {\n  map<string, string> a = 1;\n}\n"),
        {(D.FIELD_KIND_CHANGED, "#/M/1")},
        "BF",
    ),
    case(
        "MAP_VALUE_CHANGED",
        p3("message M {\n  map<string, int32> a = 1;\n}\n"),
        p3("message M {\n  map<string, string> a = 1;\n}\n"),
        {(D.FIELD_SCALAR_KIND_CHANGED, "#/M/1")},
        "BF",
    ),
    case(
        "MAP_KEY_SAME_GROUP",
        p3("message M {\n  map<int32, string> a = 1;\n}\n"),
        p3("message M {\n  map<int64, string> a = 1;\n}\n"),
        set(),
        "",
    ),
    case(
        "FIELD_NAMED_TYPE_CHANGED",
        p3("message M {\n  X a = 1;\n}\nmessage X {}\nmessage Y {}\n"),
        p3("message M {\n  Y a = 1;\n}\nmessage X {}\nmessage Y {}\n"),
        {(D.FIELD_NAMED_TYPE_CHANGED, "#/M/1")},
        "BF",
    ),
    # Confluent compares labels only where both are written: proto3 `optional` vs
    # `repeated` counts, a bare proto3 field has no label to compare.
    case(
        "FIELD_NUMERIC_LABEL_CHANGED",
        p3("message M {\n  optional int32 a = 1;\n}\n"),
        p3("message M {\n  repeated int32 a = 1;\n}\n"),
        {(D.FIELD_NUMERIC_LABEL_CHANGED, "#/M/1")},
        "BF",
    ),
    case(
        "BARE_PROTO3_TO_REPEATED",
        p3("message M {\n  int32 a = 1;\n}\n"),
        p3("message M {\n  repeated int32 a = 1;\n}\n"),
        set(),
        "",
    ),
    case(
        "FIELD_STRING_OR_BYTES_LABEL_CHANGED",
        p3("message M {\n  optional string a = 1;\n}\n"),
        p3("message M {\n  repeated string a = 1;\n}\n"),
        {(D.FIELD_STRING_OR_BYTES_LABEL_CHANGED, "#/M/1")},
        "",
    ),
    case(
        "MESSAGE_LABEL_CHANGED",
        p3("message M {\n  optional X a = 1;\n}\nmessage X {}\n"),
        p3("message M {\n  repeated X a = 1;\n}\nmessage X {}\n"),
        set(),
        "",
    ),
    # proto3 `optional` is a synthetic oneof in the descriptor: no oneof to Confluent.
    case(
        "PROTO3_OPTIONAL_ADDED",
        p3(MSG),
        p3("message M {\n  optional int32 a = 1;\n  string b = 2;\n}\n"),
        set(),
        "",
    ),
    case(
        "REQUIRED_FIELD_ADDED",
        'syntax = "proto2";\npackage t.v1;\nmessage M {\n  optional int32 a = 1;\n}\n',
        'syntax = "proto2";\npackage t.v1;\nmessage M {\n  optional int32 a = 1;\n  required int32 b = 2;\n}\n',
        {(D.REQUIRED_FIELD_ADDED, "#/M/2")},
        "BF",
    ),
    case(
        "REQUIRED_FIELD_REMOVED",
        'syntax = "proto2";\npackage t.v1;\nmessage M {\n  optional int32 a = 1;\n  required int32 b = 2;\n}\n',
        'syntax = "proto2";\npackage t.v1;\nmessage M {\n  optional int32 a = 1;\n}\n',
        {(D.REQUIRED_FIELD_REMOVED, "#/M/2")},
        "BF",
    ),
    case(
        "PROTO2_OPTIONAL_TO_REPEATED",
        'syntax = "proto2";\npackage t.v1;\nmessage M {\n  optional sint64 a = 1;\n}\n',
        'syntax = "proto2";\npackage t.v1;\nmessage M {\n  repeated sint64 a = 1;\n}\n',
        {(D.FIELD_NUMERIC_LABEL_CHANGED, "#/M/1")},
        "BF",
    ),
    case(
        "ONEOF_ADDED",
        p3(MSG),
        p3(
            "message M {\n  int32 a = 1;\n  string b = 2;\n  oneof o {\n    int32 c = 3;\n    int32 d = 4;\n  }\n}\n"
        ),
        {
            (D.ONEOF_ADDED, "#/M/o"),
            (D.ONEOF_FIELD_ADDED, "#/M/o/3"),
            (D.ONEOF_FIELD_ADDED, "#/M/o/4"),
        },
        "",
    ),
    # A member the old reader does not know of fails FORWARD (the reverse is a removal).
    case(
        "ONEOF_FIELD_ADDED",
        p3("message M {\n  oneof o {\n    int32 a = 1;\n  }\n}\n"),
        p3("message M {\n  oneof o {\n    int32 a = 1;\n    string b = 2;\n  }\n}\n"),
        {(D.ONEOF_FIELD_ADDED, "#/M/o/2")},
        "F",
    ),
    case(
        "ONEOF_FIELD_REMOVED",
        p3("message M {\n  oneof o {\n    int32 a = 1;\n    string b = 2;\n  }\n}\n"),
        p3("message M {\n  oneof o {\n    int32 a = 1;\n  }\n}\n"),
        {(D.ONEOF_FIELD_REMOVED, "#/M/o/2")},
        "B",
    ),
    # A whole oneof deleted with its members is allowed both ways.
    case(
        "ONEOF_REMOVED",
        p3(
            "message M {\n  int32 x = 5;\n  oneof o {\n    int32 a = 1;\n    string b = 2;\n  }\n}\n"
        ),
        p3("message M {\n  int32 x = 5;\n}\n"),
        {(D.ONEOF_REMOVED, "#/M/o")},
        "",
    ),
    case(
        "ONEOF_FIELD_MOVED_TO_TOP_LEVEL",
        p3("message M {\n  oneof o {\n    int32 a = 1;\n    string b = 2;\n  }\n}\n"),
        p3("message M {\n  oneof o {\n    int32 a = 1;\n  }\n  string b = 2;\n}\n"),
        {(D.ONEOF_FIELD_MOVED_TO_TOP_LEVEL, "#/M/2")},
        "F",
    ),
    case(
        "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
        p3(MSG),
        p3("message M {\n  oneof o {\n    int32 a = 1;\n    string b = 2;\n  }\n}\n"),
        {(D.MULTIPLE_FIELDS_MOVED_TO_ONEOF, "#/M/o"), (D.ONEOF_ADDED, "#/M/o")},
        "B",
    ),
    case(
        "FIELD_MOVED_TO_EXISTING_ONEOF",
        p3("message M {\n  int32 a = 1;\n  oneof o {\n    string b = 2;\n  }\n}\n"),
        p3("message M {\n  oneof o {\n    int32 a = 1;\n    string b = 2;\n  }\n}\n"),
        {(D.FIELD_MOVED_TO_EXISTING_ONEOF, "#/M/o")},
        "B",
    ),
    # One field alone into a new oneof keeps it independent: allowed both ways.
    case(
        "SINGLE_FIELD_TO_NEW_ONEOF",
        p3(MSG),
        p3("message M {\n  oneof o {\n    int32 a = 1;\n  }\n  string b = 2;\n}\n"),
        {(D.ONEOF_ADDED, "#/M/o")},
        "",
    ),
    case(
        "ENUM_ADDED",
        p3(MSG),
        p3(MSG + "enum E {\n  E_UNSPECIFIED = 0;\n}\n"),
        {(D.ENUM_ADDED, "#/E")},
        "",
    ),
    case(
        "ENUM_REMOVED",
        p3(MSG + "enum E {\n  E_UNSPECIFIED = 0;\n}\n"),
        p3(MSG),
        {(D.ENUM_REMOVED, "#/E")},
        "",
    ),
    case(
        "ENUM_CONST_ADDED",
        p3("enum E {\n  E_UNSPECIFIED = 0;\n}\n"),
        p3("enum E {\n  E_UNSPECIFIED = 0;\n  E_ONE = 1;\n}\n"),
        {(D.ENUM_CONST_ADDED, "#/E/1")},
        "",
    ),
    case(
        "ENUM_CONST_REMOVED",
        p3("enum E {\n  E_UNSPECIFIED = 0;\n  E_ONE = 1;\n}\n"),
        p3("enum E {\n  E_UNSPECIFIED = 0;\n}\n"),
        {(D.ENUM_CONST_REMOVED, "#/E/1")},
        "",
    ),
    case(
        "ENUM_CONST_CHANGED",
        p3("message M {\n  enum E {\n    E_UNSPECIFIED = 0;\n    E_ONE = 1;\n  }\n}\n"),
        p3("message M {\n  enum E {\n    E_UNSPECIFIED = 0;\n    E_FIRST = 1;\n  }\n}\n"),
        {(D.ENUM_CONST_CHANGED, "#/M/E/1")},
        "",
    ),
    case(
        "NESTED_FIELD_CHANGED",
        p3("message M {\n  message N {\n    double v = 3;\n  }\n}\n"),
        p3("message M {\n  message N {\n    float v = 3;\n  }\n}\n"),
        {(D.FIELD_SCALAR_KIND_CHANGED, "#/M/N/3")},
        "BF",
    ),
]


def failing_modes(breaks: str) -> set[Mode]:
    return (BACKWARD_FAILS if "B" in breaks else set()) | (
        FORWARD_FAILS if "F" in breaks else set()
    )


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_difference_and_verdict_per_mode(compiler: Compiler, c: Case) -> None:
    old, new = compiler.schema(c.old), compiler.schema(c.new)
    assert {(d.type, d.path) for d in differences(old, new)} == c.found
    for mode in Mode:
        findings = check(new, [old], mode)
        assert bool(findings) == (mode in failing_modes(c.breaks)), (mode, findings)
        for f in findings:
            assert mode.value in f.violates


def test_every_difference_type_has_a_case() -> None:
    covered = {kind for c in CASES for kind, _ in c.found}
    assert covered == set(DifferenceType)


# Under the JSON policy, renames of fields, JSON names and enum values break both
# ways too: proto3 JSON carries names, not numbers.
@pytest.mark.parametrize(
    "name", ["FIELD_NAME_CHANGED", "FIELD_JSON_NAME_CHANGED", "ENUM_CONST_CHANGED"]
)
def test_json_policy_makes_renames_incompatible(compiler: Compiler, name: str) -> None:
    c = next(c for c in CASES if c.name == name)
    old, new = compiler.schema(c.old), compiler.schema(c.new)
    assert check(new, [old], Mode.FULL) == []
    findings = check(new, [old], Mode.FULL, Policy.JSON)
    assert {f.rule for f in findings} == {kind.value for kind, _ in c.found}
    # One finding per direction: the new schema misreads old JSON, and the reverse.
    for kind, _ in c.found:
        violated = [set(f.violates) for f in findings if f.rule == kind.value]
        assert sorted(map(sorted, violated)) == sorted(
            [sorted(m.value for m in BACKWARD_FAILS), sorted(m.value for m in FORWARD_FAILS)]
        )
    assert all([a.value for a in f.breaks] == ["json"] for f in findings)
    assert check(new, [old], Mode.NONE, Policy.JSON) == []
