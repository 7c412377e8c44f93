"""How the registry is served: credentials (basic and bearer, from files, with
Confluent's own client), read-only serving, the loopback default, and the `--store`
argument's refusals."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from conftest import run_contracts
from postgres_server import PostgresCluster
from registry_process import STORES, RegistryProcess, new_store, running_registry

from compat_checks.registry.server_auth import Credentials, PasswordHash, hash_password

V1 = 'syntax = "proto3";\npackage shop.v1;\n\nmessage Order {\n  int64 id = 1;\n}\n'
V2 = V1.replace("int64 id = 1;", "int64 id = 1;\n  string note = 2;")
PASSWORD = "s3cret:with-colon"
TOKEN = "tok-7f3a"


def proto(schema: str) -> dict[str, object]:
    return {"schemaType": "PROTOBUF", "schema": schema}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[RegistryProcess]:
    users = tmp_path / "users"
    users.write_text(f"# who may use the registry\nci:{PASSWORD}\n\nreader:other\n")
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKEN}\nnext-token\n")
    with running_registry(
        tmp_path / "store.db", "--users-file", str(users), "--bearer-token-file", str(tokens)
    ) as server:
        yield server


def test_requests_without_admitted_credentials_get_401(secured: RegistryProcess) -> None:
    for headers in (
        {},
        basic("ci", "wrong"),
        basic("nobody", PASSWORD),
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": TOKEN},
    ):
        refused = secured.request("GET", "/subjects", headers=headers)
        assert refused.status == 401, headers
        assert refused.body == {"error_code": 401, "message": "Unauthorized"}
    # Refused before the body is read: a write without credentials changes nothing.
    secured.request("POST", "/subjects/anon-value/versions", proto(V1))
    listed = secured.request("GET", "/subjects", headers=basic("ci", PASSWORD))
    assert (listed.status, listed.body) == (200, [])
    for headers in (basic("reader", "other"), {"Authorization": f"Bearer {TOKEN}"}):
        assert secured.request("GET", "/subjects", headers=headers).status == 200


def test_the_challenge_names_both_schemes(secured: RegistryProcess) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(secured.url + "/subjects", timeout=30)
    challenge = refused.value.headers["WWW-Authenticate"]
    assert "Basic" in challenge and "Bearer" in challenge


def test_confluent_client_signs_in_with_basic_auth_and_a_static_token(
    secured: RegistryProcess,
) -> None:
    client = SchemaRegistryClient({"url": secured.url, "basic.auth.user.info": f"ci:{PASSWORD}"})
    schema_id = client.register_schema("orders-value", Schema(V1, "PROTOBUF"))
    assert client.get_schema(schema_id).schema_str == V1

    with_token = SchemaRegistryClient(
        {
            "url": secured.url,
            "bearer.auth.credentials.source": "STATIC_TOKEN",
            "bearer.auth.token": TOKEN,
            "bearer.auth.logical.cluster": "lsrc-unused",
        }
    )
    assert with_token.get_latest_version("orders-value").schema_id == schema_id

    wrong = SchemaRegistryClient({"url": secured.url, "basic.auth.user.info": "ci:nope"})
    with pytest.raises(SchemaRegistryError) as refused:
        wrong.get_subjects()
    assert (refused.value.http_status_code, refused.value.error_code) == (401, 401)


def hash_line(user: str, password: str, cwd: Path) -> str:
    """`contracts registry hash-password USER` with the password piped in."""
    out = subprocess.run(
        [str(Path(sys.executable).parent / "contracts"), "registry", "hash-password", user],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_hashed_password_signs_in_and_the_file_holds_no_password(tmp_path: Path) -> None:
    line = hash_line("ci", PASSWORD, tmp_path)
    assert line.startswith("ci:scrypt:16384:8:1:") and PASSWORD not in line
    assert hash_line("ci", PASSWORD, tmp_path) != line  # salted
    users = tmp_path / "users"
    users.write_text(f"{line}\nreader:other\n")
    server = RegistryProcess(tmp_path / "store.db", "--users-file", str(users))
    try:
        client = SchemaRegistryClient({"url": server.url, "basic.auth.user.info": f"ci:{PASSWORD}"})
        schema_id = client.register_schema("orders-value", Schema(V1, "PROTOBUF"))
        assert client.get_schema(schema_id).schema_str == V1
        wrong = SchemaRegistryClient({"url": server.url, "basic.auth.user.info": "ci:nope"})
        with pytest.raises(SchemaRegistryError) as refused:
            wrong.get_subjects()
        assert refused.value.http_status_code == 401
        # The plaintext line still signs in, and start-up said to hash it.
        assert server.request("GET", "/subjects", headers=basic("reader", "other")).status == 200
    finally:
        server.kill()
    assert server.proc.stderr is not None
    assert (
        f"contracts: warning: {users}: the password of reader is stored as it is; replace it "
        "with the line `contracts registry hash-password USER` prints"
    ) in server.proc.stderr.read()


def test_a_matched_hash_is_checked_once_and_a_wrong_password_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """scrypt's work is paid by the first request of a client that sends the same
    credentials with each one, and by every wrong guess, of a password or a name."""
    users = {"ci": PasswordHash.parse(hash_password(PASSWORD), "users:1")}
    credentials = Credentials(users, ())
    checks: list[str] = []
    real = PasswordHash.matches

    def counted(self: PasswordHash, password: str) -> bool:
        checks.append(password)
        return real(self, password)

    monkeypatch.setattr(PasswordHash, "matches", counted)

    async def scenario() -> list[bool]:
        right, wrong, stranger = basic("ci", PASSWORD), basic("ci", "nope"), basic("eve", "x")
        return [
            await credentials.admits(h["Authorization"])
            for h in (right, right, wrong, wrong, right, stranger)
        ]

    assert asyncio.run(scenario()) == [True, True, False, False, True, False]
    # An unknown name costs a check too (against a decoy): timing tells no names apart.
    assert checks == [PASSWORD, "nope", "nope", "x"]


@pytest.mark.parametrize(
    ("option", "content", "message"),
    [
        ("--users-file", "ci:ok\njust-a-name\n", "users:2: expected USER:PASSWORD"),
        ("--users-file", "ci:one\nci:two\n", "users:2: user 'ci' is listed twice"),
        ("--users-file", "# nobody\n\n", "the file lists nothing"),
        (
            "--users-file",
            "ci:scrypt:16384:8:1:c2FsdA==\n",
            "users:1: a password starting with scrypt: must be a whole hash from `contracts "
            "registry hash-password` (scrypt:N:R:P:SALT:DIGEST)",
        ),
        ("--bearer-token-file", "\n", "the file lists nothing"),
    ],
)
def test_bad_credential_files_are_refused_naming_the_line(
    tmp_path: Path, option: str, content: str, message: str
) -> None:
    secrets = tmp_path / "users"
    secrets.write_text(content)
    result = run_contracts(
        "registry", "serve", "--store", str(tmp_path / "s.db"), option, str(secrets), cwd=tmp_path
    )
    assert result.code == 2 and message in result.stderr, result.stderr
    missing = run_contracts(
        "registry", "serve", "--store", "s.db", option, str(tmp_path / "absent"), cwd=tmp_path
    )
    assert missing.code == 2 and "cannot read it" in missing.stderr


def test_read_only_serves_reads_and_refuses_every_write(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    with running_registry(store) as writable:
        first = writable.request("POST", "/subjects/ro-value/versions", proto(V1)).body
    with running_registry(store, "--read-only") as server:
        writes = [
            ("POST", "/subjects/ro-value/versions", proto(V2)),
            ("POST", "/subjects/new-value/versions", proto(V2)),
            ("DELETE", "/subjects/ro-value/versions/1", None),
            ("DELETE", "/subjects/ro-value", None),
            ("PUT", "/config", {"compatibility": "NONE"}),
            ("PUT", "/config/ro-value", {"compatibility": "NONE"}),
            ("DELETE", "/config/ro-value", None),
            # The flag is fixed for the process: not even a mode change lifts it.
            ("PUT", "/mode", {"mode": "READWRITE"}),
            ("PUT", "/mode/ro-value", {"mode": "IMPORT"}),
            ("DELETE", "/mode/ro-value", None),
        ]
        for method, path, body in writes:
            refused = server.request(method, path, body)
            assert (refused.status, refused.body["error_code"]) == (422, 42205), (method, path)
            assert "read-only" in refused.body["message"] and path in refused.body["message"]
        # Reads, lookups and compatibility checks (POSTs that write nothing) still answer.
        assert server.request("GET", "/subjects/ro-value/versions").body == [1]
        found = server.request("POST", "/subjects/ro-value", proto(V1)).body
        assert found["id"] == first["id"]
        verdict = server.request(
            "POST", "/compatibility/subjects/ro-value/versions/latest", proto(V2)
        )
        assert verdict.body == {"is_compatible": True}
        assert server.request("GET", "/config").body == {"compatibilityLevel": "BACKWARD"}


def listening_address(port: int) -> str:
    """The local address a TCP socket listens on at `port`, from /proc/net/tcp."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # LISTEN
            return socket.inet_ntoa(bytes.fromhex(address)[::-1])
    raise AssertionError(f"nothing listens on port {port}")


def test_loopback_only_unless_a_host_is_given(tmp_path: Path) -> None:
    with running_registry(tmp_path / "a.db") as server:
        assert listening_address(server.port) == "127.0.0.1"
    with running_registry(tmp_path / "b.db", "--host", "0.0.0.0") as server:
        assert listening_address(server.port) == "0.0.0.0"


def test_store_arguments_it_cannot_use_are_refused_without_showing_the_password(
    tmp_path: Path,
) -> None:
    other = run_contracts("registry", "serve", "--store", "mysql://db/registry", cwd=tmp_path)
    assert other.code == 2 and "unsupported store URL scheme 'mysql'" in other.stderr
    # Port 1 on loopback: nothing listens; the reason is shown, the password is not.
    for url in (
        "postgresql://registry:hunter2@127.0.0.1:1/registry",
        "postgresql://registry@127.0.0.1:1/registry?password=hunter2",
        "postgresql://registry:hunter2@127.0.0.1:1/registry?sslmode=sideways",
    ):
        unreachable = run_contracts("registry", "serve", "--store", url, cwd=tmp_path)
        assert unreachable.code == 2 and "cannot open the registry store" in unreachable.stderr
        assert "postgresql://registry" in unreachable.stderr
        assert "hunter2" not in unreachable.stderr, unreachable.stderr
    assert "sideways" in unreachable.stderr  # the driver's reason is kept
    broken = run_contracts(
        "registry", "serve", "--store", "postgresql://u:hunter2@[::1", cwd=tmp_path
    )
    assert broken.code == 2 and "not a valid postgresql:// URL" in broken.stderr
    assert "hunter2" not in broken.stderr


def test_postgresql_tables_of_another_format_are_refused(
    tmp_path: Path, postgres: PostgresCluster
) -> None:
    url = postgres.create_database()
    with running_registry(url) as server:
        assert server.request("POST", "/subjects/f-value/versions", proto(V1)).status == 200
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("UPDATE registry_meta SET value = '99' WHERE key = 'format'")
    refused = run_contracts("registry", "serve", "--store", url, cwd=tmp_path)
    assert refused.code == 2 and "format '99'" in refused.stderr, refused.stderr


def alter(store: str, sql: str) -> None:
    """Run `sql` on a store behind the registry's back."""
    if store.startswith("postgresql://"):
        with psycopg.connect(store, autocommit=True) as db:
            db.execute(sql)
    else:
        with contextlib.closing(sqlite3.connect(store)) as lite:
            lite.execute(sql)


@pytest.mark.parametrize("kind", STORES)
def test_a_failing_store_answers_confluents_store_error(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = new_store(kind, tmp_path, request)
    table = "registry_versions" if kind == "postgresql" else "versions"
    with running_registry(store) as server:
        assert server.request("POST", "/subjects/f-value/versions", proto(V1)).status == 200
        alter(store, f"ALTER TABLE {table} RENAME TO gone")
        failed = server.request("GET", "/subjects/f-value/versions")
        assert (failed.status, failed.body["error_code"]) == (500, 50001), failed.text
        assert "Error in the backend data store" in failed.body["message"]
        assert table in failed.body["message"]  # the database's own reason
        alter(store, f"ALTER TABLE gone RENAME TO {table}")
        assert server.request("GET", "/subjects/f-value/versions").body == [1]
