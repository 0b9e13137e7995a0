"""A fresh PostgreSQL database per test (the server on 127.0.0.1:5432, user ``postgres``).

::

    @pytest.mark.postgres
    def test_x(tmp_path):
        with fresh_database("mytest") as url:
            data["database"] = {"url": url}
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from overcast.pki import TlsFiles

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _as_admin(*statements: str, **params: str) -> list[Any]:
    """Run ``statements`` as the superuser, each in its own transaction (``CREATE DATABASE``
    may not run in one); the rows of the last (none for a statement that returns none)."""
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    rows: list[Any] = []
    try:
        with admin.connect() as conn:
            for statement in statements:
                result = conn.execute(text(statement), params)
                rows = list(result.all()) if result.returns_rows else []
    finally:
        admin.dispose()
    return rows


def terminate_connections(url: str) -> int:
    """End every server process serving the database of ``url`` (a server restart, as its
    clients see it); how many. Each is waited for until it has exited, not only signalled:
    a client's next use must find its connection closed."""
    name = url.rsplit("/", 1)[1]
    return len(_as_admin("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = :db", db=name))


@contextmanager
def fresh_database(prefix: str = "overcast_test") -> Iterator[str]:
    """Create an empty database, yield its ``postgresql://`` url, drop it (forcing out
    connections a failed test left open)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _as_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        _as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def limited_role(url: str, limit: int) -> Iterator[str]:
    """``url`` (of :func:`fresh_database`) as a new role allowed ``limit`` connections at a
    time: PostgreSQL refuses one more as it does when all its ``max_connections`` are taken
    (SQLSTATE 53300), without taking the server's connections from everyone else."""
    role = f"oc_limited_{uuid.uuid4().hex[:8]}"
    _as_admin(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT {int(limit)}')
    try:
        yield url.replace("postgres@", f"{role}@", 1)
    finally:
        _as_admin(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = :role",
            f'DROP ROLE IF EXISTS "{role}"',
            role=role,
        )


class PrivatePostgres:
    """A PostgreSQL server of the test's own (its data directory, port and address; ``ssl = on``
    with ``tls``'s certificate), started from the machine's PostgreSQL binaries as user
    ``postgres``, optionally inside a network namespace (``wrapper``, e.g. ``nsenter --net=...``).

    ``url(db)`` names it with ``sslmode=verify-full`` against ``tls.ca_cert``, so a client
    checks the server's certificate and its name (the ``listen`` address), as in production.
    """

    def __init__(self, root: Path, tls: TlsFiles, listen: str = "127.0.0.1", wrapper: Sequence[str] = ()) -> None:
        self.root = root
        self.tls = tls
        self.listen = listen
        self.wrapper = list(wrapper)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def binaries() -> Path | None:
        """The newest PostgreSQL server ``bin`` directory, or ``None`` when none is installed."""
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
        return Path(found[-1]) if found and shutil.which("runuser") else None

    def start(self, port: int, timeout: float = 60) -> PrivatePostgres:
        bin_dir = self.binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries or runuser missing")
        self.port = port
        data = self.root / "data"
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root, "postgres")
        for owned in (self.tls.key.parent, self.tls.key):  # the server reads its key as user postgres (0600)
            shutil.chown(owned, "postgres")
        if not data.exists():
            made = subprocess.run(
                ["runuser", "-u", "postgres", "--", f"{bin_dir}/initdb", "-D", str(data), "-A", "trust"],
                capture_output=True,
                text=True,
            )
            if made.returncode:
                raise RuntimeError(f"initdb failed (the server runs as user postgres): {made.stderr[-2000:]}")
            # over TCP only TLS connections (``hostssl``): a client in clear is refused, not served
            (data / "pg_hba.conf").write_text("local all all trust\nhostssl all all all trust\n")
        log = self.root / "server.log"
        options = {
            "listen_addresses": self.listen,
            "unix_socket_directories": str(self.root),
            "ssl": "on",
            "ssl_cert_file": str(self.tls.cert),
            "ssl_key_file": str(self.tls.key),
        }
        argv = [f"{bin_dir}/postgres", "-D", str(data), "-p", str(port)]
        for key, value in options.items():
            argv += ["-c", f"{key}={value}"]
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [*self.wrapper, "runuser", "-u", "postgres", "--", *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=out,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        ready = [*self.wrapper, f"{bin_dir}/pg_isready", "-h", self.listen, "-p", str(port)]
        while subprocess.run(ready, capture_output=True).returncode:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"private PostgreSQL did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        return self

    def url(self, database: str = "postgres", ca: Path | None = None) -> str:
        """``postgresql://`` to ``database`` with ``sslmode=verify-full`` against ``ca`` (default: ours)."""
        root_cert = ca or self.tls.ca_cert
        return f"postgresql://postgres@{self.listen}:{self.port}/{database}?sslmode=verify-full&sslrootcert={root_cert}"

    def query(self, sql: str) -> list[str]:
        """``sql``'s rows, one unaligned line each (as the superuser, over the server's own unix socket)."""
        out = subprocess.run(
            ["runuser", "-u", "postgres", "--", "psql", "-h", str(self.root), "-p", str(self.port)]
            + ["-d", "postgres", "-qAt", "-c", sql],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.splitlines()

    def create_database(self, name: str) -> str:
        """Create ``name`` and return its verify-full url."""
        self.query(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, timeout: float = 30) -> None:
        """A fast shutdown (SIGINT: PostgreSQL's "fast" mode), then SIGKILL if it hangs."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        for pid in _children_and(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in _children_and(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait(10)


def _children_and(pid: int) -> list[int]:
    """``pid`` and its direct children (``runuser`` forks the postmaster; a signal to
    ``runuser`` alone is not passed on)."""
    children: list[int] = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(OSError):
            children += [int(c) for c in Path(task).read_text().split()]
    return [*children, pid]
