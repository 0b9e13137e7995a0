"""PostgreSQL over TLS for real: a private PostgreSQL server (its own data directory and port,
``ssl = on`` with a certificate from an ``overcast.pki`` CA). A ``[database] url`` with
``sslmode=verify-full&sslrootcert=CA`` migrates and serves over an encrypted, verified
connection; the same URL with another CA is refused by libpq (no fallback to clear)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from overcast.db import Database, upgrade
from overcast.pki import TlsFiles, create_ca, init_tls
from overcast.testing.cloud import free_port
from overcast.testing.postgres import PrivatePostgres

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[PrivatePostgres, Path]]:
    """A private PostgreSQL that serves TLS, and another CA that did not sign its certificate."""
    if PrivatePostgres.binaries() is None:
        pytest.skip("PostgreSQL server binaries or runuser missing")
    root = Path(tempfile.mkdtemp(prefix="oc-pg-tls-"))
    root.chmod(0o755)  # the server runs as user postgres, below it
    try:
        files = init_tls(root / "pki", ["localhost", "127.0.0.1"])
        other = TlsFiles(root / "other-ca.pem", root / "other-ca-key.pem", root / "o.pem", root / "o-key.pem")
        create_ca(other)
        pg = PrivatePostgres(root / "pg", files).start(free_port())
        try:
            yield pg, other.ca_cert
        finally:
            pg.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_verify_full_migrates_over_an_encrypted_verified_connection(server: tuple[PrivatePostgres, Path]) -> None:
    pg, _ = server
    db = Database(pg.url())
    try:
        assert upgrade(db)
        with db.engine.connect() as conn:
            ssl_on, version = conn.execute(
                text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ).one()
        assert ssl_on is True and version.startswith("TLSv1.")
    finally:
        db.engine.dispose()


def test_verify_full_refuses_a_server_it_cannot_verify(server: tuple[PrivatePostgres, Path]) -> None:
    pg, other_ca = server
    db = Database(pg.url(ca=other_ca))
    try:
        with pytest.raises(OperationalError, match="certificate verify failed"):
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
    finally:
        db.engine.dispose()
