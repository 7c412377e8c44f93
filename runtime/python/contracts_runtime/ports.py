"""Port checks done with plain sockets before gRPC binds, so a port in use is our one
clear log line (and not grpc core's bind error first), and workers can share a port."""

from __future__ import annotations

import errno
import socket


def _socket(host: str) -> tuple[socket.socket, str]:
    address = host[1:-1] if host.startswith("[") else host
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        return socket.socket(family, socket.SOCK_STREAM), address
    except OSError as e:
        # "[::]" on a host without IPv6: grpc falls back to IPv4 the same way.
        if e.errno != errno.EAFNOSUPPORT or address != "::":
            raise
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM), "0.0.0.0"


def check_free(host: str, port: int) -> int:
    """The port (a free one for 0) when nothing holds it; raises OSError otherwise.

    Binding without SO_REUSEPORT fails if any socket holds the port, including another
    server that set SO_REUSEPORT and would otherwise share our traffic. SO_REUSEADDR
    lets it pass connections of a previous run still in TIME_WAIT.
    """
    probe, address = _socket(host)
    with probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((address, port))
        return int(probe.getsockname()[1])


def reserve(host: str, port: int) -> socket.socket:
    """Check the port is free, then hold it with SO_REUSEPORT, so that the workers'
    servers bind beside it and nothing else takes it meanwhile."""
    port = check_free(host, port)
    held, address = _socket(host)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    held.bind((address, port))
    return held
