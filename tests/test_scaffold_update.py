"""`contracts new service --update`: the fixture contract gains an RPC and a field, and
the update merges them into a scaffold the user edited, three ways (the recorded
render as base); a conflicting edit gets markers and exit 1; a removed RPC is
reported; the scaffold's own checks pass after the merge."""

from __future__ import annotations

import json
from pathlib import Path

from scaffold_helpers import (
    FOLDER,
    NAME,
    SERVICE,
    edit,
    fixture_workspace,
    generate_python,
    scaffold,
    scaffold_checks,
)

from codegen.scaffold.answers import FILE_NAME

PROTO = "contracts/acme/echo/v1/echo_service.proto"
MESSAGES = "contracts/acme/echo/v1/messages.proto"

# The user's implementation of Echo, and the test they wrote for it.
IMPLEMENTED = "        return messages_pb2.EchoResponse(text=request.text)\n"
USER_TEST = """\
        request = messages_pb2.EchoRequest(text="hi")
        stub = echo_service_pb2_grpc.EchoServiceStub(channel)
        reply = await stub.Echo(request, timeout=TIMEOUT_S)
        assert reply.text == "hi"
"""


def implement_echo(folder: Path) -> None:
    edit(folder / NAME / "server.py", '        await unimplemented(context, "Echo")\n', IMPLEMENTED)
    edit(
        folder / "tests/test_service.py",
        """\
        request = messages_pb2.EchoRequest()
        stub = echo_service_pb2_grpc.EchoServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Echo(request, timeout=TIMEOUT_S)
        assert_unimplemented(error, "Echo")
""",
        USER_TEST,
    )


def add_rpc_and_field(ws: Path) -> None:
    edit(
        ws / PROTO,
        "  rpc Chat(stream ChatRequest) returns (stream ChatResponse);\n",
        "  rpc Chat(stream ChatRequest) returns (stream ChatResponse);\n"
        "  // Shout answers one message in capitals.\n"
        "  rpc Shout(ShoutRequest) returns (ShoutResponse);\n",
    )
    edit(
        ws / MESSAGES,
        "message EchoRequest {\n  string text = 1;\n",
        "message EchoRequest {\n  string text = 1;\n  string language = 2;\n",
    )
    with (ws / MESSAGES).open("a") as f:
        f.write("\nmessage ShoutRequest {\n  string text = 1;\n}\n")
        f.write("\nmessage ShoutResponse {\n  string text = 1;\n}\n")


def test_update_merges_a_new_rpc_and_field_into_edited_code(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    folder = ws / FOLDER
    assert scaffold(ws).code == 0
    implement_echo(folder)
    add_rpc_and_field(ws)
    generate_python(ws)

    result = scaffold(ws, "--update")
    assert result.code == 0, result.stdout + result.stderr
    out = result.stdout
    for rel in (f"{NAME}/server.py", "tests/test_service.py"):
        assert f"merged: {FOLDER}/{rel} (your edits and the new render merged cleanly)" in out, out
    assert f"replaced: {FOLDER}/README.md (you had not changed it)" in out  # 4 RPCs -> 5
    assert f"unchanged: {FOLDER}/Dockerfile (already as rendered)" in out
    assert f"note: new RPC /{SERVICE}/Shout: a handler stub in {NAME}/server.py" in out

    server = (folder / NAME / "server.py").read_text()
    assert IMPLEMENTED in server  # the edit survives
    shout = server.split("async def Shout(", 1)[1]
    assert "request: messages_pb2.ShoutRequest" in shout
    assert "-> messages_pb2.ShoutResponse:" in shout
    assert '"""Shout answers one message in capitals."""' in shout
    assert USER_TEST in (folder / "tests/test_service.py").read_text()
    assert "def test_shout_is_unimplemented()" in (folder / "tests/test_service.py").read_text()
    assert "<<<<<<<" not in server
    # The user now reads the new field; the regenerated stubs type it.
    edit(
        folder / NAME / "server.py",
        "text=request.text)",
        'text=f"{request.text}/{request.language}")',
    )
    edit(
        folder / "tests/test_service.py",
        'EchoRequest(text="hi")',
        'EchoRequest(text="hi", language="en")',
    )
    edit(folder / "tests/test_service.py", 'reply.text == "hi"', 'reply.text == "hi/en"')
    # The merged service serves: the user's Echo, Shout UNIMPLEMENTED, and type-checks.
    scaffold_checks(ws)

    # The new render is the next base: a second update has nothing to merge.
    again = scaffold(ws, "--update")
    assert again.code == 0
    assert (
        f"kept: {FOLDER}/{NAME}/server.py (the render did not change; your edits stay)"
        in again.stdout
    )
    assert "merged:" not in again.stdout


def test_a_conflicting_edit_gets_markers_and_exit_1(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    folder = ws / FOLDER
    assert scaffold(ws).code == 0
    server = folder / NAME / "server.py"
    edit(server, '"""Echo answers one message with one message."""', '"""Echo: ours."""')
    edit(
        ws / PROTO,
        "// Echo answers one message with one message.",
        "// Echo answers with its input.",
    )

    result = scaffold(ws, "--update")
    assert result.code == 1, result.stdout + result.stderr
    assert f"conflict: {FOLDER}/{NAME}/server.py (1 conflict(s)" in result.stdout
    assert f"1 file(s) with conflicts to resolve:\n  {FOLDER}/{NAME}/server.py" in result.stderr
    text = server.read_text()
    assert f"<<<<<<< {FOLDER}/{NAME}/server.py (yours)" in text
    assert '"""Echo: ours."""' in text
    assert '"""Echo answers with its input."""' in text
    assert f">>>>>>> {FOLDER}/{NAME}/server.py (new render)" in text
    assert result.stdout.count("conflict: ") == 1  # only the file with the clash


def test_a_removed_rpc_is_reported(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    assert scaffold(ws).code == 0
    edit(
        ws / PROTO,
        "  // Chat answers each message of a stream as it arrives.\n  rpc Chat(stream ChatRequest) returns (stream ChatResponse);\n",
        "",
    )
    result = scaffold(ws, "--update")
    assert result.code == 0, result.stderr
    assert f"note: removed RPC /{SERVICE}/Chat: no longer in the contract" in result.stdout
    answers = json.loads((ws / FOLDER / FILE_NAME).read_text())
    assert answers["methods"] == ["Echo", "Expand", "Collect"]


def test_an_implemented_handler_of_a_removed_rpc_is_not_silently_deleted(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    folder = ws / FOLDER
    assert scaffold(ws).code == 0
    edit(
        folder / NAME / "server.py",
        '        await unimplemented(context, "Collect")\n',
        '        return messages_pb2.CollectResponse(text="".join([r.text async for r in request_iterator]))\n',
    )
    edit(ws / PROTO, "  rpc Collect(stream CollectRequest) returns (CollectResponse);\n", "")
    result = scaffold(ws, "--update")
    assert result.code == 1
    assert "request_iterator])" in (folder / NAME / "server.py").read_text()
    assert f"note: removed RPC /{SERVICE}/Collect" in result.stdout


def test_a_deleted_file_is_not_recreated_by_update(tmp_path: Path) -> None:
    ws = fixture_workspace(tmp_path / "ws")
    assert scaffold(ws).code == 0
    (ws / FOLDER / "Dockerfile").unlink()
    result = scaffold(ws, "--update")
    assert result.code == 0
    assert f"skipped: {FOLDER}/Dockerfile (you deleted it after it was rendered)" in result.stdout
    assert not (ws / FOLDER / "Dockerfile").exists()
