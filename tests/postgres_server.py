"""A throwaway PostgreSQL cluster for the registry's tests and benchmark: initdb into
a temporary directory, `postgres` on a free loopback port (no Unix socket, trust
auth for its one local user), killed and removed at the end. Every wait is bounded.

PostgreSQL refuses to run as root; as root the cluster runs as the `postgres` user
that Debian's package creates. The binaries: `initdb` on PATH, else Debian's
/usr/lib/postgresql/<major>/bin (scripts/setup.sh installs the package).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

MINIMUM_MAJOR = 13
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15
INITDB_TIMEOUT_S = 120
SUPERUSER = "contracts"
RUN_AS_WHEN_ROOT = "postgres"


def bin_dir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not debian:
        raise RuntimeError(
            "PostgreSQL's initdb not found (PATH, /usr/lib/postgresql/*/bin); "
            "run scripts/setup.sh, which installs Debian's postgresql package"
        )
    return debian[-1].parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    def __init__(self, root: Path, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.root = root
        self.port = port
        self.proc = proc
        self.log = log
        self._names = itertools.count(1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "registry") -> str:
        """A new empty database; its URL."""
        name = f"{prefix}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _owner() -> str | None:
    """The user to run PostgreSQL's binaries as (None: as ourselves)."""
    return RUN_AS_WHEN_ROOT if os.geteuid() == 0 else None


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresCluster]:
    binaries = bin_dir()
    major = int(binaries.parent.name) if binaries.parent.name.isdigit() else None
    if major is not None and major < MINIMUM_MAJOR:
        raise RuntimeError(f"PostgreSQL {major} at {binaries}; {MINIMUM_MAJOR} or newer needed")
    root = Path(tempfile.mkdtemp(prefix="contracts-pg-"))
    os.chmod(root, 0o755)  # the cluster's user must reach data/ inside it
    data, log = root / "data", root / "postgres.log"
    data.mkdir(mode=0o700)
    owner = _owner()
    if owner is not None:
        shutil.chown(data, owner, owner)
    # As root, the child drops to the owner's user and group, and no other group.
    extra_groups: list[str] | None = [] if owner else None
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            cwd=data,
            capture_output=True,
            check=True,
            timeout=INITDB_TIMEOUT_S,
            user=owner,
            group=owner,
            extra_groups=extra_groups,
        )
        port = free_port()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    str(binaries / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "max_connections=200",
                    # A test cluster: the registry, not the database, is what tests kill.
                    "-c",
                    "fsync=off",
                ],
                cwd=data,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed whole after
                user=owner,
                group=owner,
                extra_groups=extra_groups,
            )
        assert proc is not None
        cluster = PostgresCluster(root, port, proc, log)
        _wait_ready(cluster)
        yield cluster
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"initdb failed: {exc.stderr.decode(errors='replace')}") from None
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(cluster: PostgresCluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if cluster.proc.poll() is not None:
            raise RuntimeError(f"postgres exited: {cluster.log.read_text(errors='replace')}")
        try:
            with psycopg.connect(cluster.url(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"postgres not ready after {START_TIMEOUT_S} s: "
                    f"{cluster.log.read_text(errors='replace')}"
                ) from None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # SIGINT is postgres's fast shutdown; the group kill catches anything left.
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=STOP_TIMEOUT_S)
