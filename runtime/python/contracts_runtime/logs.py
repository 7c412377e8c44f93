"""Structured logs: one JSON object a line when stderr is not a terminal, readable text
when it is. Keys follow Go's log/slog JSON handler (`time`, `level`, `msg`) and
go-grpc-middleware's call fields (`grpc.service`, `grpc.method`, `grpc.code`,
`grpc.time_ms`), so one log query covers the fleet's Go and Python services.

Fields of the call being handled (method, request id) ride in a context variable, so a
handler's own `logging` lines carry them too.

The per-call line (`finished call`, one per RPC) skips `logging` when it can: where the
runtime's own JSON handler is the process's only handler, the interceptor splices the line
from parts made once per method (`CallLine`) and queues it on that handler, which writes
what was queued with one write every `WRITE_EVERY_S` (sooner past `WRITE_AT_LINES` lines,
before any other line, and at exit). A `logging.LogRecord`, the formatter's dictionaries,
`json.dumps`, and a write and an event-loop turn for every call were most of the
runtime's per-call cost. Anywhere else (text on a terminal, a service or a test that
installed its own handlers or filters) the line goes through `logging` as before.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any, TextIO

# Fields of the call the current task is handling; set by the interceptor.
CALL_FIELDS: contextvars.ContextVar[Mapping[str, object] | None] = contextvars.ContextVar(
    "contracts_runtime_call", default=None
)

# Set once per process (the worker index in workers mode), added to every line.
_process_fields: dict[str, object] = {}

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "fields"}


def fields(**values: object) -> dict[str, object]:
    """`extra=` for a log call: structured fields rendered as keys of the line."""
    return {"fields": values}


def _fields_of(record: logging.LogRecord) -> dict[str, object]:
    merged: dict[str, object] = dict(_process_fields)
    call = CALL_FIELDS.get()
    if call:
        merged.update(call)
    own = record.__dict__.get("fields")
    if isinstance(own, Mapping):
        merged.update(own)
    # Plain `extra=` keys too (a set difference: this runs for every call's line).
    for key in record.__dict__.keys() - _RESERVED:
        merged[key] = record.__dict__[key]
    return merged


def _dumps(value: object) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "msg": record.getMessage(),
            "logger": record.name,
        }
        line.update(_fields_of(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _dumps(line)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        extra = " ".join(f"{k}={v}" for k, v in _fields_of(record).items())
        text = f"{clock}.{int(record.msecs):03d} {record.levelname:<7} {record.getMessage()}"
        if extra:
            text += f"  {extra}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


_last_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """RFC 3339 in UTC with milliseconds; the seconds part is formatted once a second."""
    global _last_second
    whole = int(created)
    if whole != _last_second[0]:
        _last_second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_last_second[1]}.{int(created % 1 * 1000):03d}Z"


def _members(values: Mapping[str, object]) -> str:
    """The members of a JSON object as `json.dumps` writes them, without the braces, each
    followed by `, `: for splicing into a line."""
    return "".join(f"{_dumps(key)}: {_dumps(value)}, " for key, value in values.items())


class CallLine:
    """The `finished call` line of one method, spliced from parts made once.

    Key for key and byte for byte what `JsonFormatter` writes for the same record; only
    the time, the level, the request id, the code and the duration change per call."""

    def __init__(self, logger: str, msg: str, call: Mapping[str, object], kind: str) -> None:
        self._head = f', "msg": {_dumps(msg)}, "logger": {_dumps(logger)}, '
        self._call = _members(call)
        self._kind = f'"grpc.method_type": {_dumps(kind)}, "grpc.code": "'

    def format(
        self,
        process: str,
        level: str,
        request_id: str | list[str] | None,
        request_id_key: str,
        code: str,
        time_ms: float,
    ) -> str:
        if not request_id:
            ident = ""
        elif isinstance(request_id, str):
            ident = f'"{request_id_key}": {encode_basestring(request_id)}, '
        else:
            ident = f'"{request_id_key}": {_dumps(request_id)}, '
        return (
            f'{{"time": "{_timestamp(time.time())}", "level": "{level}"{self._head}'
            f'{process}{self._call}{ident}{self._kind}{code}", "grpc.time_ms": {time_ms!r}}}\n'
        )


# How long a queued call line may wait for its write, and how many may wait. A process
# killed outright (SIGKILL, OOM) loses at most this much of its last lines.
WRITE_EVERY_S = 0.05
WRITE_AT_LINES = 256


class RuntimeHandler(logging.StreamHandler[TextIO]):
    """The process's one handler, installed by `configure`. Besides formatting records it
    takes finished lines (`queue`) from the event loop and writes them together, every
    `WRITE_EVERY_S`; a record it formats writes the queued lines first, so lines keep
    their order, and so does `flush` (logging.shutdown at exit, `Server.stop`). Writing to
    a full pipe blocks the loop, as `logging` does."""

    def __init__(self, stream: TextIO, json_lines: bool) -> None:
        super().__init__(stream)
        self.setFormatter(JsonFormatter() if json_lines else TextFormatter())
        self.json_lines = json_lines
        # The process fields (worker index) as line members; set by `configure`.
        self.process = ""
        # A deque: appended on the loop's thread, drained on any (record from a thread).
        self._queued: collections.deque[str] = collections.deque()
        # The loop a write is scheduled on: a loop closed before the write (a test's
        # asyncio.run) must not keep the next loop's lines waiting.
        self._scheduled_on: asyncio.AbstractEventLoop | None = None

    def queue(self, line: str) -> None:
        queued = self._queued
        queued.append(line)
        if len(queued) >= WRITE_AT_LINES:
            self.write_queued()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.write_queued()
            return
        if self._scheduled_on is not loop:
            self._scheduled_on = loop
            loop.call_later(WRITE_EVERY_S, self.write_queued)

    def write_queued(self) -> None:
        self._scheduled_on = None
        queued = self._queued
        lines = []
        while queued:
            lines.append(queued.popleft())
        if not lines:
            return
        lock = self.lock
        assert lock is not None  # made by Handler.__init__
        with lock:
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except (OSError, ValueError):
                # A closed or broken stderr: the lines are lost, as `logging` loses a
                # record it cannot write (with no stderr left to say so).
                pass

    def emit(self, record: logging.LogRecord) -> None:
        if self._queued:
            self.write_queued()
        super().emit(record)

    def flush(self) -> None:
        # logging.shutdown() at exit calls this: nothing queued is left behind.
        if self._queued:
            self.write_queued()
        super().flush()


_handler: RuntimeHandler | None = None


def flush() -> None:
    """Write the queued call lines now."""
    if _handler is not None:
        _handler.flush()


def call_line_handler(logger: logging.Logger, level: int) -> RuntimeHandler | None:
    """The handler to queue `logger`'s line of `level` on, when the runtime's JSON handler
    would be the only one to see it, unfiltered; None when it must go through `logging`.
    Checked on every call (a few attribute reads): a service or a test may add handlers
    or filters at any time."""
    handler = _handler
    if handler is None or not handler.json_lines or level < handler.level or handler.filters:
        return None
    node: logging.Logger | None = logger
    while node is not None:
        if node.filters:
            return None
        if node.parent is None:  # the root
            handlers = node.handlers
            return handler if len(handlers) == 1 and handlers[0] is handler else None
        if node.handlers:
            return None
        if not node.propagate:
            return None
        node = node.parent
    return None


def current() -> tuple[str, str, dict[str, object]]:
    """What `configure` was last given (level, format, process fields), for a child
    process to log as its parent does."""
    level = logging.getLevelName(logging.getLogger().level).lower()
    log_format = "json" if _handler is None or _handler.json_lines else "text"
    return level, log_format, dict(_process_fields)


def configure(
    level: str,
    log_format: str,
    stream: TextIO | None = None,
    process: Mapping[str, object] | None = None,
) -> None:
    """Route every logger of the process (ours, grpc's, the service's) to `stream`."""
    global _handler
    stream = stream or sys.stderr
    if log_format == "auto":
        log_format = "text" if stream.isatty() else "json"
    handler = RuntimeHandler(stream, json_lines=log_format == "json")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old is _handler:
            # Its queued lines go to its own stream, unless that is gone already.
            with contextlib.suppress(OSError, ValueError):
                _handler.flush()
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    _process_fields.clear()
    _process_fields.update(process or {})
    handler.process = _members(_process_fields)
    _handler = handler
