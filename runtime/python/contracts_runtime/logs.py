"""Structured logs: one JSON object a line when stderr is not a terminal, readable text
when it is. Keys follow Go's log/slog JSON handler (`time`, `level`, `msg`) and
go-grpc-middleware's call fields (`grpc.service`, `grpc.method`, `grpc.code`,
`grpc.time_ms`), so one log query covers the fleet's Go and Python services.

Fields of the call being handled (method, request id) ride in a context variable, so a
handler's own `logging` lines carry them too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Mapping
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
        return json.dumps(line, default=str, ensure_ascii=False)


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


def configure(
    level: str,
    log_format: str,
    stream: TextIO | None = None,
    process: Mapping[str, object] | None = None,
) -> None:
    """Route every logger of the process (ours, grpc's, the service's) to `stream`."""
    stream = stream or sys.stderr
    if log_format == "auto":
        log_format = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    _process_fields.clear()
    _process_fields.update(process or {})
