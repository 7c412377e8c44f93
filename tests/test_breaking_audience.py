"""The "breaks:" labels of `contracts breaking`, each proven by generated code.

For each change the labels are checked, and then the claim behind them is
tried for real: Python stubs are generated (grpcio-tools' protoc) from the old
and the new image, data written by the old stubs is decoded by the new ones,
and code written against the old stubs is run against the new ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import run_contracts, write_tree

BUF = Path(sys.executable).parent / "buf"
FILE = "p/v1/a.proto"
BUF_YAML = "version: v2\nbreaking:\n  use: [FILE]\n"
GO, PY, JSON, WIRE = "go", "python", "json", "wire"

OLD = """\
syntax = "proto3";

package p.v1;

message Inner {
  string s = 1;
  int32 n = 2;
}

message ShapeA {
  string s = 1;
}

message Outer {
  Inner inner = 1;
  int32 plain = 2;
  optional int32 had = 3;
  Used used = 4;
  ShapeA shaped = 5;
}

enum Used {
  USED_UNSPECIFIED = 0;
  USED_A = 1;
}

enum Lonely {
  LONELY_UNSPECIFIED = 0;
  LONELY_A = 1;
}

service S {
  rpc Get(Inner) returns (Outer);
}
"""

# Inner renamed with the same fields; `plain` gains explicit presence, `had`
# loses it; the values of both enums renamed; `shaped` now another shape.
NEW = """\
syntax = "proto3";

package p.v1;

message Renamed {
  string s = 1;
  int32 n = 2;
}

message ShapeB {
  int64 s = 1;
  string t = 2;
}

message Outer {
  Renamed inner = 1;
  optional int32 plain = 2;
  int32 had = 3;
  Used used = 4;
  ShapeB shaped = 5;
}

enum Used {
  USED_UNSPECIFIED = 0;
  USED_B = 1;
}

enum Lonely {
  LONELY_UNSPECIFIED = 0;
  LONELY_B = 1;
}

service S {
  rpc Get(Renamed) returns (Outer);
}
"""


def line_of(text: str, needle: str) -> int:
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def stubs(workspace: Path, out: Path) -> Path:
    """Python stubs from the workspace's image, as `contracts gen` makes them."""
    image = workspace.parent / f"{workspace.name}.binpb"
    subprocess.run([str(BUF), "build", "-o", str(image)], cwd=workspace, check=True, timeout=120)
    out.mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--descriptor_set_in={image}",
            f"--python_out={out}",
            FILE,
        ],
        check=True,
        timeout=120,
    )
    return out


def run_with(stub_dir: Path, code: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run Python code that imports `p.v1.a_pb2` from these stubs."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        input=stdin,
        env={**os.environ, "PYTHONPATH": str(stub_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(stub_dir: Path, code: str, stdin: str = "") -> str:
    proc = run_with(stub_dir, code, stdin)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The old and new workspaces, their stubs, and contracts breaking's findings."""
    base = tmp_path_factory.mktemp("audience")
    old, new = base / "old", base / "new"
    write_tree(old, {"buf.yaml": BUF_YAML, FILE: OLD})
    write_tree(new, {"buf.yaml": BUF_YAML, FILE: NEW})
    result = run_contracts("breaking", "--against", str(old), "--format", "json", cwd=new)
    assert result.code == 1, result
    findings = {
        (f["rule"], f["line"], f["column"]): (
            tuple(f.get("breaks", ())),
            tuple(f.get("may_break", ())),
        )
        for f in json.loads(result.stdout)
    }
    text = run_contracts("breaking", "--against", str(old), cwd=new).stdout
    return {
        "findings": findings,
        "text": text.splitlines(),
        "old": stubs(old, base / "old_py"),
        "new": stubs(new, base / "new_py"),
    }


def labels(versions: dict[str, Any], rule: str, needle: str) -> tuple[tuple[str, ...], ...]:
    """(breaks, may_break) of the one finding of `rule` on the new line holding needle."""
    line = line_of(NEW, needle)
    hits = [v for (r, ln, _), v in versions["findings"].items() if r == rule and ln == line]
    assert len(hits) == 1, (rule, needle, versions["findings"])
    return hits[0]


def test_message_renamed_with_the_same_fields_keeps_the_wire(versions: dict[str, Any]) -> None:
    # The field that now holds the renamed type, and the RPC that takes it.
    assert labels(versions, "FIELD_SAME_TYPE", "Renamed inner = 1") == ((GO, PY), ())
    assert labels(versions, "RPC_SAME_REQUEST_TYPE", "rpc Get") == ((GO, PY), ())
    old_bytes = ok(
        versions["old"],
        """
        from p.v1 import a_pb2
        m = a_pb2.Outer(inner=a_pb2.Inner(s="x", n=7))
        print(m.SerializeToString().hex(), a_pb2.Inner(s="y", n=8).SerializeToString().hex())
        """,
    )
    decoded = ok(
        versions["new"],
        """
        import sys
        from p.v1 import a_pb2
        outer, request = sys.stdin.read().split()
        m = a_pb2.Outer.FromString(bytes.fromhex(outer))
        r = a_pb2.Renamed.FromString(bytes.fromhex(request))
        # Written back byte for byte: nothing was left as an unknown field.
        print(m.inner.s, m.inner.n, r.s, r.n, m.SerializeToString().hex() == outer)
        """,
        old_bytes,
    )
    assert decoded.split() == ["x", "7", "y", "8", "True"]
    # Its JSON reads back too: same field names, same types.
    old_json = ok(
        versions["old"],
        """
        from google.protobuf import json_format
        from p.v1 import a_pb2
        print(json_format.MessageToJson(a_pb2.Outer(inner=a_pb2.Inner(s="x", n=7))))
        """,
    )
    parsed = ok(
        versions["new"],
        """
        import sys
        from google.protobuf import json_format
        from p.v1 import a_pb2
        print(json_format.Parse(sys.stdin.read(), a_pb2.Outer()).inner.n)
        """,
        old_json,
    )
    assert parsed.strip() == "7"


def test_message_of_another_shape_may_break_json_and_wire(versions: dict[str, Any]) -> None:
    # Whether it breaks depends on which fields clients fill: named, not guessed.
    assert labels(versions, "FIELD_SAME_TYPE", "ShapeB shaped = 5") == ((GO, PY), (JSON, WIRE))
    line = line_of(NEW, "ShapeB shaped = 5")
    assert any(
        t.startswith(f"{FILE}:{line}:3 FIELD_SAME_TYPE ")
        and t.endswith("[breaks: Go source, Python source; may break: JSON clients, binary wire]")
        for t in versions["text"]
    ), versions["text"]


OLD_PYTHON_CODE = """
from p.v1 import a_pb2
m = a_pb2.Outer()
m.plain = 5
assert m.plain == 5
copy = a_pb2.Outer.FromString(m.SerializeToString())
assert copy.plain == 5
m.ClearField("plain")
assert m.plain == 0
assert a_pb2.Outer(plain=3).plain == 3
print("ran")
"""


def test_gaining_explicit_presence_does_not_break_python_source(
    versions: dict[str, Any],
) -> None:
    assert labels(versions, "FIELD_SAME_CARDINALITY", "optional int32 plain = 2") == ((GO,), ())
    # Code written against the old stubs runs unchanged on the new ones.
    assert ok(versions["old"], OLD_PYTHON_CODE).strip() == "ran"
    assert ok(versions["new"], OLD_PYTHON_CODE).strip() == "ran"


def test_losing_explicit_presence_breaks_python_source(versions: dict[str, Any]) -> None:
    assert labels(versions, "FIELD_SAME_CARDINALITY", "int32 had = 3") == ((GO, PY), ())
    code = """
    from p.v1 import a_pb2
    print(a_pb2.Outer(had=0).HasField("had"))
    """
    assert ok(versions["old"], code).strip() == "True"
    broken = run_with(versions["new"], code)
    assert broken.returncode != 0
    assert "ValueError" in broken.stderr


FILL_EVERY_MESSAGE = """
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor as F
from p.v1 import a_pb2

def fill(message):
    for field in message.DESCRIPTOR.fields:
        if field.type == F.TYPE_MESSAGE:
            getattr(message, field.name).SetInParent()
        elif field.type == F.TYPE_ENUM:
            setattr(message, field.name, field.enum_type.values[-1].number)
        elif field.type == F.TYPE_STRING:
            setattr(message, field.name, "x")
        else:
            setattr(message, field.name, 1)
    return message

for name, descriptor in sorted(a_pb2.DESCRIPTOR.message_types_by_name.items()):
    cls = getattr(a_pb2, name)
    print(name, json_format.MessageToJson(fill(cls()), indent=None))
"""

PARSE_EACH = """
import sys
from google.protobuf import json_format
from p.v1 import a_pb2
for line in sys.stdin.read().splitlines():
    name, text = line.split(" ", 1)
    json_format.Parse(text, getattr(a_pb2, name)())
print("parsed")
"""


def test_renaming_values_of_an_enum_no_field_uses_breaks_no_json_client(
    tmp_path: Path,
) -> None:
    old_text = OLD.replace("  ShapeA shaped = 5;\n", "")
    new_text = old_text.replace("LONELY_A = 1", "LONELY_B = 1")
    old, new = tmp_path / "old", tmp_path / "new"
    write_tree(old, {"buf.yaml": BUF_YAML, FILE: old_text})
    write_tree(new, {"buf.yaml": BUF_YAML, FILE: new_text})
    result = run_contracts("breaking", "--against", str(old), "--format", "json", cwd=new)
    assert result.code == 1, result
    (finding,) = json.loads(result.stdout)
    assert (finding["rule"], finding["breaks"], finding.get("may_break")) == (
        "ENUM_VALUE_SAME_NAME",
        [GO, PY],
        None,
    )
    # Every message, every field set (enums to their last value), written as JSON
    # by the old stubs, reads with the new ones.
    old_py, new_py = stubs(old, tmp_path / "old_py"), stubs(new, tmp_path / "new_py")
    documents = ok(old_py, FILL_EVERY_MESSAGE)
    assert '"used": "USED_A"' in documents
    assert ok(new_py, PARSE_EACH, documents).strip() == "parsed"


def test_renaming_values_of_an_enum_a_field_uses_breaks_json(versions: dict[str, Any]) -> None:
    assert labels(versions, "ENUM_VALUE_SAME_NAME", "USED_B = 1") == ((GO, PY, JSON), ())
    assert labels(versions, "ENUM_VALUE_SAME_NAME", "LONELY_B = 1") == ((GO, PY), ())
    document = ok(
        versions["old"],
        """
        from google.protobuf import json_format
        from p.v1 import a_pb2
        print(json_format.MessageToJson(a_pb2.Outer(used=a_pb2.USED_A), indent=None))
        """,
    )
    broken = run_with(
        versions["new"],
        """
        import sys
        from google.protobuf import json_format
        from p.v1 import a_pb2
        json_format.Parse(sys.stdin.read(), a_pb2.Outer())
        """,
        document,
    )
    assert broken.returncode != 0
    assert "USED_A" in broken.stderr
