"""The registry's schema compiler: protoc in a worker process, its outcomes kept in a
bounded LRU keyed by the schema text and its dependencies' content."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from compat_checks.registry import compiler
from compat_checks.registry.errors import RegistryError

ORDER = 'syntax = "proto3";\npackage shop.v1;\n\nmessage Order {\n  int64 id = 1;\n}\n'
BROKEN = 'syntax = "proto3";\npackage shop.v1;\nmessage M {\n  int32 a = 1\n}\n'
USES_MONEY = (
    'syntax = "proto3";\npackage shop.v1;\nimport "money.proto";\n\n'
    "message Price {\n  Money amount = 1;\n}\n"
)


def money(field_type: int) -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="money.proto", package="shop.v1", syntax="proto3"
    )
    message = file.message_type.add(name="Money")
    message.field.add(name="cents", number=1, type=field_type, label=1, json_name="cents")
    return file


def test_compiles_and_hands_out_independent_copies() -> None:
    compiler.clear_cache()
    root, first = compiler.compile_schema(ORDER, [])
    assert root == compiler.ROOT_NAME
    assert [m.name for m in first.file[-1].message_type] == ["Order"]
    first.file[-1].message_type[0].name = "Changed"
    _, second = compiler.compile_schema(ORDER, [])  # from the cache
    assert second.file[-1].message_type[0].name == "Order"


def test_errors_name_file_line_and_column_every_time() -> None:
    compiler.clear_cache()
    for _ in range(2):  # compiled, then answered from the cache
        with pytest.raises(RegistryError) as caught:
            compiler.compile_schema(BROKEN, [])
        assert caught.value.code == 42201
        assert "schema.proto:5:1" in caught.value.message and "Expected" in caught.value.message


def test_the_key_holds_the_dependencies_content() -> None:
    """One schema text over two different versions of its import: two outcomes."""
    compiler.clear_cache()
    as_int = compiler.compile_schema(
        USES_MONEY, [money(descriptor_pb2.FieldDescriptorProto.TYPE_INT64)]
    )
    as_str = compiler.compile_schema(
        USES_MONEY, [money(descriptor_pb2.FieldDescriptorProto.TYPE_STRING)]
    )
    types = [
        next(f for f in compiled.file if f.name == "money.proto").message_type[0].field[0].type
        for _, compiled in (as_int, as_str)
    ]
    assert types == [
        descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
        descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    ]


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = compiler._LRU(2)
    outcome = compiler._Outcome("a.proto", b"")
    cache.put("a", outcome)
    cache.put("b", outcome)
    assert cache.get("a") is outcome  # "b" is now the least recently used
    cache.put("c", outcome)
    assert cache.get("b") is None and cache.get("a") is outcome and cache.get("c") is outcome


def test_threads_compiling_at_once_each_get_their_own_result() -> None:
    compiler.clear_cache()
    results: dict[int, str] = {}

    def work(n: int) -> None:
        text = ORDER.replace("message Order", f"message Order{n}")
        _, compiled = compiler.compile_schema(text, [])
        results[n] = compiled.file[-1].message_type[0].name

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == {n: f"Order{n}" for n in range(8)}


def test_stderr_written_by_another_thread_during_compiles_stays_out_of_errors(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The server's own log lines (fd 2, another thread) while protoc runs: each
    reaches the real standard error, and no compile error carries one."""
    compiler.clear_cache()
    stop = threading.Event()
    written: list[str] = []

    def log() -> None:
        n = 0
        while not stop.is_set():
            line = f"server log line {n}"
            os.write(2, f"{line}\n".encode())
            written.append(line)
            n += 1
            time.sleep(0.0002)

    writer = threading.Thread(target=log)
    writer.start()
    messages: list[str] = []
    try:
        for n in range(30):  # distinct texts: every one is compiled, none cached
            broken = BROKEN.replace("message M", f"message M{n}")
            with pytest.raises(RegistryError) as caught:
                compiler.compile_schema(broken, [])
            messages.append(caught.value.message)
    finally:
        stop.set()
        writer.join(timeout=10)
    assert not writer.is_alive()
    assert all("server log line" not in m for m in messages), messages
    assert all(m.startswith("Invalid schema: schema.proto:5:1:") for m in messages), messages
    captured = capfd.readouterr().err.splitlines()
    assert len(written) > 30
    assert [line for line in captured if line.startswith("server log line")] == written


def _worker_pid() -> int:
    """The running compile worker's process id (a compile starts one if needed)."""
    compiler.clear_cache()
    compiler.compile_schema(ORDER.replace("Order", f"Warm{time.monotonic_ns()}"), [])
    worker = compiler._WORKER
    assert worker is not None
    return worker.pid


def _ended(pid: int, within_s: float) -> bool:
    """Whether process `pid` is gone (or a zombie left for its new parent) within the time."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("noticed", ["before sending", "by the request"])
def test_a_worker_killed_between_compiles_is_replaced_transparently(
    monkeypatch: pytest.MonkeyPatch, noticed: str
) -> None:
    first = _worker_pid()
    os.kill(first, signal.SIGKILL)
    assert _ended(first, 10)
    if noticed == "by the request":  # as when it dies just after the check
        monkeypatch.setattr(compiler._Worker, "usable", lambda self: self.pid == first)
    compiler.clear_cache()
    root, compiled = compiler.compile_schema(ORDER, [])
    assert root == compiler.ROOT_NAME and compiled.file[-1].message_type[0].name == "Order"
    assert compiler._WORKER is not None and compiler._WORKER.pid != first
    assert not Path(f"/proc/{first}").exists()  # reaped, not a zombie


def test_a_hung_worker_fails_the_request_within_the_timeout_and_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hung = _worker_pid()
    os.kill(hung, signal.SIGSTOP)  # alive, holding its pipes, never answering
    try:
        monkeypatch.setattr(compiler, "COMPILE_TIMEOUT_S", 0.5)
        started = time.monotonic()
        with pytest.raises(RegistryError) as caught:
            compiler.compile_schema(ORDER.replace("Order", "Stuck"), [])
        assert time.monotonic() - started < 5
    finally:
        if Path(f"/proc/{hung}").exists():
            os.kill(hung, signal.SIGKILL)
    assert (caught.value.status, caught.value.code) == (500, 50002)
    assert "0.5 s" in caught.value.message
    assert not Path(f"/proc/{hung}").exists()  # killed and reaped
    monkeypatch.undo()
    _, compiled = compiler.compile_schema(ORDER.replace("Order", "Stuck"), [])  # not cached
    assert compiled.file[-1].message_type[0].name == "Stuck"


def test_a_fresh_worker_that_ends_without_answering_fails_the_request_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fresh worker that ends without answering: a 500 naming its exit, no retry loop."""
    compiler.stop_worker()
    monkeypatch.setattr(compiler, "WORKER_MODULE", "compat_checks.registry.no_such_worker_module")
    with pytest.raises(RegistryError) as caught:
        compiler.compile_schema(ORDER.replace("Order", "Orphan"), [])
    assert (caught.value.status, caught.value.code) == (500, 500)
    assert "ended without answering (exit status 1)" in caught.value.message
    monkeypatch.undo()
    _, compiled = compiler.compile_schema(ORDER.replace("Order", "Orphan"), [])
    assert compiled.file[-1].message_type[0].name == "Orphan"


def test_ctrl_c_at_the_terminal_leaves_the_worker_to_its_registry() -> None:
    pid = _worker_pid()
    os.kill(pid, signal.SIGINT)  # what the terminal sends the whole process group
    assert not _ended(pid, 0.5)
    assert _worker_pid() == pid


def test_the_worker_starts_and_stops_without_a_word_on_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    compiler.stop_worker()
    pid = _worker_pid()
    compiler.stop_worker()
    assert _ended(pid, 1)
    assert capfd.readouterr().err == ""


def test_stop_worker_ends_and_reaps_it() -> None:
    pid = _worker_pid()
    compiler.stop_worker()
    assert compiler._WORKER is None
    assert not Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize("how", ["exits", "is killed"])
def test_the_worker_ends_when_its_registry_process_does(tmp_path: Path, how: str) -> None:
    """A registry process that exits normally, or is SIGKILLed: its worker goes too
    (end of its input), with no process left behind."""
    script = (
        "import sys\n"
        "from compat_checks.registry import compiler\n"
        f"compiler.compile_schema({ORDER!r}, [])\n"
        "print(compiler._WORKER.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    ) as parent:
        try:
            assert parent.stdout is not None and parent.stdin is not None
            ready, _, _ = select.select([parent.stdout], [], [], 60)
            assert ready, "the registry process printed no worker pid"
            worker = int(parent.stdout.readline())
            assert Path(f"/proc/{worker}").exists()
            if how == "exits":
                parent.stdin.close()
            else:
                parent.kill()
            parent.wait(timeout=30)
            assert _ended(worker, 10), f"worker {worker} outlived its registry process"
        finally:
            parent.kill()
            parent.wait(timeout=30)
