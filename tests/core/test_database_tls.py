"""PostgreSQL over TLS for real: a private PostgreSQL server (its own data directory and port,
``ssl = on`` with a certificate from an ``overcast.pki`` CA). A ``[database] url`` with
``sslmode=verify-full&sslrootcert=CA`` migrates and serves over an encrypted, verified
connection; the same URL with another CA is refused by libpq (no fallback to clear)."""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from overcast.db import Database, upgrade
from overcast.pki import TlsFiles, create_ca, init_tls
from overcast.testing.cloud import free_port

pytestmark = [pytest.mark.root, pytest.mark.slow]

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, Path, Path]]:
    """(port, our CA, another CA) of a private PostgreSQL that serves TLS."""
    if not BIN or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL server binaries or runuser missing")
    root = Path(tempfile.mkdtemp(prefix="oc-pg-tls-"))
    try:
        files = init_tls(root, ["localhost", "127.0.0.1"])
        other = TlsFiles(root / "other-ca.pem", root / "other-ca-key.pem", root / "o.pem", root / "o-key.pem")
        create_ca(other)
        shutil.chown(root, "postgres")
        shutil.chown(files.key, "postgres")  # the server reads its key as user postgres
        shutil.chown(files.cert.parent, "postgres")
        data = root / "data"
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{BIN[-1]}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
        )
        port = free_port()
        proc = subprocess.Popen(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                f"{BIN[-1]}/postgres",
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "ssl=on",
                "-c",
                f"ssl_cert_file={files.cert}",
                "-c",
                f"ssl_key_file={files.key}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(root / "server.log", "wb"),
        )
        try:
            deadline = time.monotonic() + 30
            while subprocess.run(
                [f"{BIN[-1]}/pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            ).returncode:
                assert proc.poll() is None and time.monotonic() < deadline, (root / "server.log").read_text()
                time.sleep(0.2)
            yield port, files.ca_cert, other.ca_cert
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_verify_full_migrates_over_an_encrypted_verified_connection(server: tuple[int, Path, Path]) -> None:
    port, ca, _ = server
    db = Database(f"postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=verify-full&sslrootcert={ca}")
    try:
        assert upgrade(db)
        with db.engine.connect() as conn:
            ssl_on, version = conn.execute(
                text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ).one()
        assert ssl_on is True and version.startswith("TLSv1.")
    finally:
        db.engine.dispose()


def test_verify_full_refuses_a_server_it_cannot_verify(server: tuple[int, Path, Path]) -> None:
    port, _, other_ca = server
    db = Database(f"postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=verify-full&sslrootcert={other_ca}")
    try:
        with pytest.raises(OperationalError, match="certificate verify failed"):
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
    finally:
        db.engine.dispose()
