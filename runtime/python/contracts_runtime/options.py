"""The gRPC core channel arguments of the server, and why each is set."""

from __future__ import annotations

from contracts_runtime.settings import Settings


def server_options(settings: Settings, *, share_port: bool) -> list[tuple[str, int]]:
    min_ping_ms = int(settings.min_ping_interval * 1000)
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Keepalive enforcement. The generated Go clients ping every 30 s (10 s timeout),
        # also on idle connections and idle streams (PermitWithoutStream). grpcio's
        # defaults tolerate one ping per 5 minutes without data and none without calls,
        # and answer the third early ping with GOAWAY "too_many_pings", which kills long
        # idle streams (watches, server streams waiting for events). So: accept pings
        # this often (default 10 s, a third of the clients' interval, room for jitter)...
        ("grpc.http2.min_ping_interval_without_data_ms", min_ping_ms),
        # ...also when the connection has no call in flight...
        ("grpc.keepalive_permit_without_calls", 1),
        # ...and let our own keepalive pings (below) go on while no data flows; the
        # default stops them after two, leaving a dead peer undetected on an idle stream.
        ("grpc.http2.max_pings_without_data", 0),
        # Our pings find peers that vanished without a FIN (a node gone, a NAT timeout).
        ("grpc.keepalive_time_ms", 120_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        # Several worker processes share the port on purpose; a single process must not
        # silently share it with another server (grpcio sets SO_REUSEPORT by default),
        # so a port in use is an error.
        ("grpc.so_reuseport", 1 if share_port else 0),
    ]
