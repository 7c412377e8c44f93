"""`contracts gen --target jsonschema`: proto3 JSON validates, wrong payloads fail."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import REPO
from google.protobuf import (
    descriptor,
    descriptor_pool,
    json_format,
    message,
    message_factory,
)

from codegen.gen import jsonschema_target, tree
from contracts_core.image import Image, compile_workspace
from contracts_core.workspace import Workspace

FIXTURE = Path(__file__).parent / "fixtures" / "jsonschema"
FD = descriptor.FieldDescriptor
BIG = 2**60  # above 2^53: must print as a string


def _image(root: Path) -> Image:
    return compile_workspace(Workspace.discover(root=root))


@pytest.fixture(scope="module")
def repo_image() -> Image:
    return _image(REPO)


@pytest.fixture(scope="module")
def fixture_image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    root = tmp_path_factory.mktemp("jsonschema") / "ws"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("expected"))
    return _image(root)


def _pool(image: Image) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for file in image.descriptor_set.file:
        pool.Add(file)
    return pool


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _scalar(field: Any, pool: descriptor_pool.DescriptorPool) -> Any:
    t = field.type
    if t in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return -BIG
    if t in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return 2**63 + 1
    if t in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return -(2**31)
    if t in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return 2**32 - 1
    if t in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
        return 1.5
    if t == FD.TYPE_BOOL:
        return True
    if t == FD.TYPE_STRING:
        return "text"
    if t == FD.TYPE_BYTES:
        return b"\xfb\xff\x00binary"
    if t == FD.TYPE_ENUM:
        return field.enum_type.values[-1].number
    raise AssertionError(f"not a scalar: {field.full_name}")


def _wkt(msg: message.Message, pool: descriptor_pool.DescriptorPool) -> bool:
    """Set a well-known type to a non-default value; False if msg is not one."""
    name = msg.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        msg.seconds, msg.nanos = 1_700_000_000, 123_000_000  # type: ignore[attr-defined]
    elif name == "google.protobuf.Duration":
        msg.seconds, msg.nanos = 90, 500_000_000  # type: ignore[attr-defined]
    elif name == "google.protobuf.Struct":
        msg.update({"a": 1, "b": [True, None, "x"]})  # type: ignore[attr-defined]
    elif name == "google.protobuf.Value":
        msg.string_value = "v"  # type: ignore[attr-defined]
    elif name == "google.protobuf.ListValue":
        msg.extend([1, "two"])  # type: ignore[attr-defined]
    elif name == "google.protobuf.FieldMask":
        msg.paths.extend(["a.b_c", "d"])  # type: ignore[attr-defined]
    elif name == "google.protobuf.Any":
        inner = message_factory.GetMessageClass(
            pool.FindMessageTypeByName("google.protobuf.Duration")
        )(seconds=3)
        msg.Pack(inner)  # type: ignore[attr-defined]
    elif name == "google.protobuf.Empty":
        pass
    elif name.startswith("google.protobuf.") and name.endswith("Value"):
        msg.value = _scalar(msg.DESCRIPTOR.fields_by_name["value"], pool)  # type: ignore[attr-defined]
    else:
        return False
    return True


def populate(msg: message.Message, pool: descriptor_pool.DescriptorPool, depth: int = 0) -> None:
    """Every field non-default: repeated x2, maps with an entry, one member per oneof."""
    if _wkt(msg, pool):
        return
    if depth > 2:
        return
    desc = msg.DESCRIPTOR
    skipped = {
        f.name
        for o in desc.oneofs
        if not (len(o.fields) == 1 and o.fields[0].has_presence and o.name.startswith("_"))
        for f in o.fields[1:]
    }
    for field in desc.fields:
        if field.name in skipped:
            continue
        value = getattr(msg, field.name)
        is_message = field.type == FD.TYPE_MESSAGE
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field = field.message_type.fields_by_name["key"]
            val_field = field.message_type.fields_by_name["value"]
            key = _scalar(key_field, pool)
            if val_field.type == FD.TYPE_MESSAGE:
                populate(value[key], pool, depth + 1)
            else:
                value[key] = _scalar(val_field, pool)
        elif field.is_repeated:
            for _ in range(2):
                if is_message:
                    populate(value.add(), pool, depth + 1)
                else:
                    value.append(_scalar(field, pool))
        elif is_message:
            value.SetInParent()
            populate(value, pool, depth + 1)
        else:
            setattr(msg, field.name, _scalar(field, pool))


def _all_messages(image: Image) -> Iterator[tuple[str, str]]:
    """(output path, full name) of every message the target writes."""
    for rel, schema in jsonschema_target.schemas(image).items():
        yield rel, schema["$id"]


@pytest.mark.parametrize("which", ["repo", "fixture"])
def test_every_populated_message_validates(
    which: str, repo_image: Image, fixture_image: Image
) -> None:
    image = repo_image if which == "repo" else fixture_image
    pool = _pool(image)
    schemas = jsonschema_target.schemas(image)
    assert schemas
    for rel, schema in schemas.items():
        cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(schema["$id"]))
        msg = cls()
        populate(msg, pool)
        validator = _validator(schema)
        for proto_names in (False, True):
            printed = json.loads(
                json_format.MessageToJson(
                    msg, preserving_proto_field_name=proto_names, descriptor_pool=pool
                )
            )
            errors = [
                f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(printed)
            ]
            assert not errors, (rel, proto_names, printed, errors)
        # The empty message and an all-defaults print validate too.
        assert validator.is_valid({})
        assert validator.is_valid(json.loads(json_format.MessageToJson(cls())))


def test_big_int64_is_printed_as_a_string_and_validates(repo_image: Image) -> None:
    schema = jsonschema_target.schemas(repo_image)["fleet/inference/v1/Tensor.schema.json"]
    validator = _validator(schema)
    assert validator.is_valid({"shape": [str(BIG), 3, "-4"]})
    assert validator.is_valid({"shape": [2**53 - 1]})


def _error_paths(schema: dict[str, Any], instance: Any) -> list[list[str | int]]:
    """The path of each error, looking inside anyOf (null-or-X) to the best match."""
    paths = []
    for error in _validator(schema).iter_errors(instance):
        best = jsonschema.exceptions.best_match([error])
        assert best is not None
        paths.append(list(best.absolute_path))
    return paths


def _repo_schema(image: Image, rel: str) -> dict[str, Any]:
    return jsonschema_target.schemas(image)[rel]


def test_number_above_2_53_for_int64_fails(repo_image: Image) -> None:
    schema = _repo_schema(repo_image, "fleet/inference/v1/Tensor.schema.json")
    assert _error_paths(schema, {"shape": [1, 2**53 + 1]}) == [["shape", 1]]
    assert _error_paths(schema, {"shape": ["1.5"]}) == [["shape", 0]]


def test_wrong_enum_name_fails(repo_image: Image) -> None:
    schema = _repo_schema(repo_image, "fleet/inference/v1/Tensor.schema.json")
    assert _error_paths(schema, {"datatype": "FP99"}) == [["datatype"]]
    assert _error_paths(schema, {"datatype": "DATA_TYPE_FP32"}) == []
    assert _error_paths(schema, {"datatype": 12}) == []


def test_bad_timestamp_fails(repo_image: Image) -> None:
    schema = _repo_schema(repo_image, "fleet/tasks/v1/TaskEnvelope.schema.json")
    assert _error_paths(schema, {"enqueueTime": "yesterday"}) == [["enqueueTime"]]
    assert _error_paths(schema, {"enqueue_time": "2024-01-02T03:04:05.5Z"}) == []
    assert _error_paths(schema, {"enqueueTime": None}) == []


def test_unknown_field_fails(repo_image: Image) -> None:
    schema = _repo_schema(repo_image, "fleet/tasks/v1/TaskEnvelope.schema.json")
    errors = list(_validator(schema).iter_errors({"trace": {"bogus": 1}, "taskId": "t"}))
    assert [list(e.absolute_path) for e in errors] == [["trace"]]
    assert "'bogus'" in errors[0].message
    assert _error_paths(schema, {"nope": 1}) == [[]]


def test_bytes_that_are_not_base64_fail(repo_image: Image) -> None:
    schema = _repo_schema(repo_image, "fleet/inference/v1/Tensor.schema.json")
    assert _error_paths(schema, {"rawData": "not base64!"}) == [["rawData"]]
    assert _error_paths(schema, {"raw_data": "+/8A_-8="}) == []
    assert _error_paths(schema, {"rawData": "+/8"}) == []


def test_two_members_of_one_oneof_fail(repo_image: Image) -> None:
    schema = _repo_schema(repo_image, "fleet/tasks/v1/TaskEnvelope.schema.json")
    paths = _error_paths(schema, {"generateReport": {}, "send_notification": {}})
    assert paths and all(p in (["generateReport"], ["send_notification"]) for p in paths)
    assert _error_paths(schema, {"generateReport": {}}) == []


def test_both_spellings_of_one_field_fail(repo_image: Image) -> None:
    schema = _repo_schema(repo_image, "fleet/tasks/v1/TaskEnvelope.schema.json")
    assert _error_paths(schema, {"taskId": "a", "task_id": "b"}) == [["task_id"]]


def test_fixture_edge_cases(fixture_image: Image) -> None:
    schemas = jsonschema_target.schemas(fixture_image)
    everything = schemas["demo/v1/Everything.schema.json"]
    ok = {
        "byId": {"-5": "x"},
        "byFlag": {"true": "COLOR_RED"},
        "byIndex": {"7": "AAE="},
        "fUint32": 4294967295,
        "fDouble": "NaN",
        "ubig": "18446744073709551615",
        "packed": {"@type": "type.googleapis.com/demo.v1.Node", "name": "n"},
        "nothing": {},
        "nullValue": None,
        "values": [None, 1],
        "tree": {"children": [{"children": [{"name": "leaf"}]}]},
    }
    assert _error_paths(everything, ok) == []
    bad = {
        "byId": {"x": "y"},
        "byFlag": {"yes": "COLOR_RED"},
        "fUint32": -1,
        "fInt32": 2**31,
        "ubig": "-1",
        "packed": {"name": "n"},
        "nothing": {"a": 1},
        "ids": [None],
        "took": "5m",
        "tree": {"children": [{"children": [{"bogus": "leaf"}]}]},
    }
    paths = _error_paths(everything, bad)
    assert sorted(p[0] for p in paths if p) == sorted(bad), paths
    assert set(schemas) == {
        "demo/v1/Everything.schema.json",
        "demo/v1/Everything.Inner.schema.json",
        "demo/v1/Node.schema.json",
        "demo/v1/Scalars.schema.json",
    }
    node = schemas["demo/v1/Node.schema.json"]
    assert node["$id"] == "demo.v1.Node"
    assert node["description"] == "Node is a recursive tree node."
    assert node["$defs"]["demo.v1.Node"]["properties"]["name"]["description"] == "Display name."
    assert schemas["demo/v1/Everything.Inner.schema.json"]["title"] == "Everything.Inner"


def test_golden_fixture_output(fixture_image: Image, tmp_path: Path) -> None:
    out = tmp_path / "out"
    jsonschema_target.build(Workspace.discover(root=FIXTURE), fixture_image, out)
    expected = FIXTURE / "expected"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(expected, ignore_errors=True)
        shutil.copytree(out, expected)
    diff = tree.compare(out, expected)
    assert not diff.changed, f"{diff}; rerun with UPDATE_GOLDEN=1 and review the diff"


def test_committed_schemas_match_a_fresh_build(repo_image: Image, tmp_path: Path) -> None:
    out = tmp_path / "out"
    jsonschema_target.build(Workspace.discover(root=REPO), repo_image, out)
    diff = tree.compare(out, REPO / "generated" / "jsonschema")
    assert not diff.changed, diff
