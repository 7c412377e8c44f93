"""The JSON Schemas accept exactly the proto3 JSON both reference parsers accept.

A table of inputs, one field at a time of `demo.v1.Scalars`
(fixtures/jsonschema/proto/demo/v1/scalars.proto), goes through Go's protojson
(tests/protojson_oracle, built here), Python's json_format and the generated
schema. A schema is valid iff both parsers accept, except in the cases listed
in SCHEMA_DEPARTS, each with its reason. Where the parsers disagree the schema
rejects (their common ground is what a producer can rely on); PARSERS_DISAGREE
lists those cases, and the test fails if the parsers' behaviour moves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import jsonschema
import pytest
from conftest import REPO
from google.protobuf import descriptor_pool, json_format, message_factory

from codegen.gen import jsonschema_target
from contracts_core.image import Image, compile_workspace
from contracts_core.workspace import Workspace

FIXTURE = REPO / "tests/fixtures/jsonschema"
ORACLE = REPO / "tests/protojson_oracle"
MESSAGE = "demo.v1.Scalars"

INTEGER_FIELDS = ["i32", "s32", "sf32", "u32", "f32", "i64", "s64", "sf64", "u64", "f64"]
INTEGER_INPUTS = [
    "0", "-0", "1", "-1", "1.0", "-0.0", "1.5", "1e2", "1E+2", "100e-2", "1e-2",
    "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
    "9007199254740991", "9007199254740992", "-9007199254740992",
    "9223372036854775807", "9223372036854775808", "18446744073709551615",
    "18446744073709551616", "1e20", "true", "null",
    '"768"', '"-768"', '"0"', '"-0"', '"1.0"', '"-1.00"', '"1.5"', '"1e2"', '"-1e2"',
    '" 1"', '"1 "', '"+1"', '"01"', '"0x10"', '""', '"1_0"', '"5."', '".5"',
    '"2147483647"', '"2147483648"', '"-2147483648"', '"-2147483649"', '"4294967295"',
    '"4294967296"', '"9223372036854775807"', '"9223372036854775808"',
    '"-9223372036854775808"', '"-9223372036854775809"', '"18446744073709551615"',
    '"18446744073709551616"', '"NaN"',
]  # fmt: skip
FLOAT_FIELDS = ["fl", "db"]
FLOAT_INPUTS = [
    "0", "-0", "-0.0", "1", "1.5", "0.1", "1e2", "1e-2", "-1.5E+3", "1e20",
    "3.4028234663852886e38", "3.4028235677973366e38", "1e39", "-1e39",
    "1.7976931348623157e308", "1e400", "-1e400", "true", "null",
    '"1.5"', '"-1.5"', '"768"', '"1e2"', '"-0"', '"NaN"', '"Infinity"', '"-Infinity"',
    '"nan"', '"inf"', '"infinity"', '" 1.5"', '"1.5 "', '"+1.5"', '"01"', '".5"', '"5."',
    '"1_0"', '""', '"1e39"', '"1e400"', '"3.4028234663852886e38"',
]  # fmt: skip
WRAPPER_CASES = [
    (field, value)
    for field in ("w32", "wu64", "wfl")
    for value in ("1", "1e2", "1.5", '"1"', '"1e2"', '"1.5"', '"NaN"', "null", '"+1"')
]
ENUM_INPUTS = [
    '"SHADE_DARK"', '"shade_dark"', '"SHADE_NOPE"', "1", "5", "-1", "1.0", "1e0", "1.5",
    "2147483648", '"1"', "null", "true",
]  # fmt: skip
BOOL_INPUTS = ["true", "false", '"true"', "1", "0", "null"]
MAP_FIELDS = ["byI32", "byU32", "byI64", "byU64"]
MAP_KEYS = [
    "1", "-1", "0", "-0", "+0", "+1", "01", "-01", "1.0", "1e2", " 1", "0x1", "",
    "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "18446744073709551615", "18446744073709551616", "00018446744073709551615",
]  # fmt: skip


def _cases() -> Iterator[tuple[str, str]]:
    """(field, JSON text of its value) of every row of the table."""
    yield from ((f, v) for f in INTEGER_FIELDS for v in INTEGER_INPUTS)
    yield from ((f, v) for f in FLOAT_FIELDS for v in FLOAT_INPUTS)
    yield from WRAPPER_CASES
    yield from (("shade", v) for v in ENUM_INPUTS)
    yield from (("flag", v) for v in BOOL_INPUTS)
    yield from ((f, json.dumps({k: "x"})) for f in MAP_FIELDS for k in MAP_KEYS)


CASES = list(_cases())

_INT64_FIELDS = {"i64", "s64", "sf64", "u64", "f64", "wu64"}
_INT_FIELDS = set(INTEGER_FIELDS) | {"w32", "wu64"}


def parsers_disagree(field: str, value: str) -> str | None:
    """Why the two parsers disagree on this case (who accepts), or None where they agree.

    Nearly every disagreement is Python taking more than Go: json_format reads
    strings with int() and float(), which allow more than JSON's number syntax,
    and a JSON true is an int in Python.
    """
    if field in MAP_FIELDS:
        key = next(iter(json.loads(value)))
        unsigned = field in ("byU32", "byU64")
        if key in ("1.0", "1e2"):
            return (
                "Python only: map key read as int(float(key)); strconv.ParseInt takes no fraction"
            )
        if unsigned and key in ("+0", "+1", "-0"):
            return "Python only: map key with a sign; Go's strconv.ParseUint takes none"
        return None
    if field == "shade":
        if value in ('"1"', "1.5", "true"):
            return "Python only: an enum number as a string, a fraction or true, read with int()"
        return None
    if field in _INT_FIELDS and value in ('"+1"', '"01"', '"1_0"', '"5."'):
        return "Python only: int() of the string takes a sign, leading zeros, _ and '5.'"
    if field in set(FLOAT_FIELDS) | {"wfl"} and value in (
        '"+1.5"', '"+1"', '"01"', '"1_0"', '"5."', '".5"', '" 1.5"', '"1.5 "', '"inf"',
        '"infinity"',
    ):  # fmt: skip
        return "Python only: float() of the string takes a sign, zeros, _, spaces and inf"
    if field in FLOAT_FIELDS and value == "true":
        return "Python only: true is the number 1 (bool is an int)"
    if field == "fl" and value in ('"1e39"', '"1e400"'):
        return "Python only: a float string beyond float32 is stored as infinity; Go rejects it"
    if field == "db" and value == '"1e400"':
        return "Python only: a double string beyond float64 is stored as infinity; Go rejects it"
    if field == "fl" and value == "3.4028235677973366e38":
        return "Go only: a number just above FLT_MAX rounds to FLT_MAX in Go; Python rejects it"
    return None


def _big_int64_number(field: str, value: str) -> bool:
    """A number literal for a 64-bit field, in the field's range but beyond 2^53 - 1."""
    if field not in _INT64_FIELDS or not value.lstrip("-").isdigit():
        return False
    n = int(value)
    unsigned = field in ("u64", "f64", "wu64")
    low, high = (0, 2**64 - 1) if unsigned else (-(2**63), 2**63 - 1)
    return low <= n <= high and abs(n) > 2**53 - 1


def schema_departs(field: str, value: str) -> str | None:
    """Why the schema's verdict is not "both parsers accept", or None where it is."""
    if _big_int64_number(field, value):
        return (
            "64-bit integer as a number above 2^53: both parsers read the exact text, but "
            "JavaScript and double-based JSON libraries round it, so the schema asks for a string"
        )
    signed = field not in ("u32", "f32", "u64", "f64", "wu64")
    if field in _INT_FIELDS and (value == '"1e2"' or (signed and value == '"-1e2"')):
        return (
            "integer string in exponent form: both parsers take it when integral and in "
            "range, which no pattern can check, so the schema takes plain digits only"
        )
    if field == "fl" and value in ('"1e39"', '"1e400"'):
        return "float string out of range: a pattern cannot bound its magnitude (Go rejects)"
    if field == "db" and value == '"1e400"':
        return "double string out of range: a pattern cannot bound its magnitude (Go rejects)"
    return None


def _document(field: str, value: str) -> str:
    return f'{{"{field}": {value}}}'


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    root = tmp_path_factory.mktemp("leniency") / "ws"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("expected"))
    return compile_workspace(Workspace.discover(root=root))


@pytest.fixture(scope="module")
def go_verdicts(image: Image, tmp_path_factory: pytest.TempPathFactory) -> list[bool]:
    go = shutil.which("go")
    assert go is not None, "go is required (scripts/setup.sh checks for it)"
    binary = tmp_path_factory.mktemp("oracle") / "protojson_oracle"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=ORACLE, env=env, check=True, timeout=300
    )
    cases = [{"message": MESSAGE, "json": _document(f, v)} for f, v in CASES]
    proc = subprocess.run(
        [str(binary), str(image.path)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    verdicts: list[bool] = json.loads(proc.stdout)
    assert len(verdicts) == len(CASES)
    return verdicts


def _python_verdicts(image: Image) -> list[bool]:
    pool = descriptor_pool.DescriptorPool()
    for file in image.descriptor_set.file:
        pool.Add(file)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(MESSAGE))
    verdicts = []
    for field, value in CASES:
        try:
            json_format.Parse(_document(field, value), cls(), descriptor_pool=pool)
        except json_format.ParseError:
            verdicts.append(False)
        else:
            verdicts.append(True)
    return verdicts


def test_schema_accepts_what_both_parsers_accept(image: Image, go_verdicts: list[bool]) -> None:
    schema = jsonschema_target.schemas(image)["demo/v1/Scalars.schema.json"]
    validator = jsonschema.Draft202012Validator(schema)
    python_verdicts = _python_verdicts(image)
    wrong: list[str] = []
    for (field, value), go, py in zip(CASES, go_verdicts, python_verdicts, strict=True):
        document = _document(field, value)
        expected_disagreement = parsers_disagree(field, value)
        if (go != py) != (expected_disagreement is not None):
            wrong.append(f"{document}: go={go} python={py}, documented: {expected_disagreement}")
            continue
        if expected_disagreement is not None and expected_disagreement.startswith(
            "Go only" if py else "Python only"
        ):
            wrong.append(f"{document}: go={go} python={py}, documented: {expected_disagreement}")
        both = go and py
        valid = validator.is_valid(json.loads(document))
        if schema_departs(field, value) is not None:
            if valid == both:
                wrong.append(f"{document}: documented departure no longer departs ({valid})")
        elif valid != both:
            wrong.append(f"{document}: schema {'accepts' if valid else 'rejects'}, go={go} py={py}")
    assert not wrong, "\n".join(wrong)


def test_the_table_covers_the_corners_asked_about(go_verdicts: list[bool]) -> None:
    """The cases that motivated the table are in it, and both parsers accept them."""
    accepted = {case for case, ok in zip(CASES, go_verdicts, strict=True) if ok}
    for case in [("u32", '"768"'), ("i32", "1e2"), ("fl", '"1.5"'), ("db", '"NaN"'),
                 ("db", '"Infinity"'), ("db", '"-Infinity"'), ("u64", "9007199254740991"),
                 ("i32", "-0"), ("i32", "-0.0"), ("i64", '"1.0"')]:  # fmt: skip
        assert case in CASES and case in accepted, case
