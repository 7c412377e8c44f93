"""Settings of a service process: a command-line flag wins over an environment variable,
which wins over the default. One table (`OPTIONS`) defines each setting's variable, flag,
default, form and meaning; parsing, `--help` and the README's table all read it.

The variables share the `SERVER_` prefix. Kubernetes injects `<SERVICE>_PORT=tcp://...`
for every Service in the namespace, so a Service named `server` would collide with
`SERVER_PORT`; the error then names the variable and the value it found.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, NoReturn

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "json", "text")


@dataclass(frozen=True)
class Settings:
    host: str = "[::]"
    port: int = 50051
    metrics_port: int = 9090
    grace_period: float = 25.0
    max_message_bytes: int = 4 * 1024 * 1024
    workers: int = 1
    log_level: str = "info"
    log_format: str = "auto"
    min_ping_interval: float = 10.0


class SettingsError(Exception):
    """One or more malformed settings; each problem names its variable or flag."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class _Malformed(ValueError):
    pass


def _port(text: str) -> int:
    if not re.fullmatch(r"\d{1,5}", text) or int(text) > 65535:
        raise _Malformed
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Malformed from None
    if not math.isfinite(value) or value < 0:
        raise _Malformed
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise _Malformed
    return value


_UNITS = {"": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def _bytes(text: str) -> int:
    match = re.fullmatch(r"(\d+)(KiB|MiB|GiB)?", text)
    if not match:
        raise _Malformed
    value = int(match.group(1)) * _UNITS[match.group(2) or ""]
    # gRPC's channel arguments are C ints.
    if not 0 < value < 2**31:
        raise _Malformed
    return value


def _workers(text: str) -> int:
    if not re.fullmatch(r"\d{1,4}", text) or int(text) < 1:
        raise _Malformed
    return int(text)


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise _Malformed
        return text.lower()

    return parse


def _host(text: str) -> str:
    # A bracketed IPv6 address, or a name / IPv4 address without a port.
    if not re.fullmatch(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+", text):
        raise _Malformed
    return text


@dataclass(frozen=True)
class Option:
    field: str
    env: str
    flag: str
    parse: Callable[[str], Any]
    form: str
    help: str

    @property
    def default(self) -> object:
        return getattr(Settings(), self.field)


OPTIONS: tuple[Option, ...] = (
    Option("host", "SERVER_HOST", "--host", _host, "an IP address or host name, such as 0.0.0.0 or [::]", "address the gRPC server binds"),
    Option("port", "SERVER_PORT", "--port", _port, "a port number from 0 to 65535", "gRPC port; 0 picks a free one (logged)"),
    Option("metrics_port", "SERVER_METRICS_PORT", "--metrics-port", _port, "a port number from 0 to 65535", "Prometheus /metrics port, same host; 0 picks a free one (logged)"),
    Option("grace_period", "SERVER_GRACE_PERIOD", "--grace-period", _seconds, "a number of seconds, such as 25 or 2.5", "how long in-flight calls may run after SIGTERM before they are cancelled"),
    Option("max_message_bytes", "SERVER_MAX_MESSAGE_BYTES", "--max-message-bytes", _bytes, "a number of bytes below 2GiB, such as 4194304, 512KiB or 16MiB", "largest message received or sent"),
    Option("workers", "SERVER_WORKERS", "--workers", _workers, "a whole number of processes, 1 or more", "server processes sharing the port (SO_REUSEPORT), for CPU-bound handlers"),
    Option("log_level", "SERVER_LOG_LEVEL", "--log-level", _one_of(LOG_LEVELS), "one of " + ", ".join(LOG_LEVELS), "lowest level logged; `warning` silences the per-call lines of successful calls"),
    Option("log_format", "SERVER_LOG_FORMAT", "--log-format", _one_of(LOG_FORMATS), "one of " + ", ".join(LOG_FORMATS), "`auto`: JSON lines unless stderr is a terminal"),
    Option("min_ping_interval", "SERVER_MIN_PING_INTERVAL", "--min-ping-interval", _positive_seconds, "a number of seconds above 0, such as 10", "shortest interval between client keepalive pings the server tolerates (the generated Go clients ping every 30 s)"),
)  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so that a bad flag is
    reported like a bad variable."""

    def error(self, message: str) -> NoReturn:
        raise SettingsError([message])


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = _Parser(
        prog=prog,
        description="Serve gRPC. Each flag can also be set by its environment variable.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for option in OPTIONS:
        p.add_argument(
            option.flag,
            dest=option.field,
            metavar=option.env,
            default=None,
            help=f"{option.help} (form: {option.form}; default: {option.default})",
        )
    return p


def load(argv: Sequence[str], environ: Mapping[str, str], prog: str | None = None) -> Settings:
    """Settings from flags, then environment variables, then defaults; every malformed one
    is reported at once."""
    flags = vars(parser(prog).parse_args(list(argv)))
    problems: list[str] = []
    values: dict[str, Any] = {}
    for option in OPTIONS:
        flag_value = flags.get(option.field)
        source, text = (
            (option.flag, flag_value)
            if flag_value is not None
            else (option.env, environ.get(option.env))
        )
        if text is None:
            continue
        try:
            values[option.field] = option.parse(text.strip())
        except _Malformed:
            problems.append(f"{source}={text!r}: expected {option.form}")
    if problems:
        raise SettingsError(problems)
    return replace(Settings(), **values)


assert {o.field for o in OPTIONS} == {f.name for f in fields(Settings)}, "a setting without a row"
