"""The identity service on PostgreSQL: migrations, auth, revocation seen by another process."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import text

from overcast.config import parse_config
from overcast.db import Database, upgrade
from overcast.errors import Conflict, Unauthorized
from overcast.runtime import build_runtime
from overcast.testing.fixtures import fake_config_data
from overcast.testing.postgres import terminate_connections

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_runtime(tmp_path, overcast_pm):
    url = os.environ.get("OVERCAST_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
    admin = Database(url)
    name = f"oc_identity_{uuid.uuid4().hex[:8]}"
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    data = fake_config_data(tmp_path)
    data["database"] = {"url": url.rsplit("/", 1)[0] + f"/{name}"}
    # every migration: identity's tables are in 0002 and 0013 (system role assignments)
    runtime = build_runtime(parse_config(data, tmp_path / "overcast.toml"), pm=overcast_pm, migrate=False)
    upgrade(runtime.db)
    try:
        yield runtime
    finally:
        runtime.close()
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_identity_on_postgres(pg_runtime) -> None:
    from overcast.identity.service import IdentityService

    ident = pg_runtime.identity
    boot = ident.bootstrap("pg-secret")
    assert ident.find_bootstrap() == boot
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": "pg-secret"}},
            },
            "scope": {"project": {"id": boot.project_id}},
        }
    }
    token = ident.issue_token(body).token
    other = IdentityService(pg_runtime)
    assert other.context_from_token(token).is_admin
    ident.directory.create_project("pg-p")
    with pytest.raises(Conflict):
        ident.directory.create_project("pg-p")
    project = ident.directory.create_project("pg-q")
    user = ident.directory.create_user("pg-u", password="pw")
    ident.assignments.grant("user", user.id, project.id, boot.role_ids["member"])
    cred, secret = ident.appcreds.create(user.id, project.id, "pg-cred", [boot.role_ids["member"]])
    ac = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": cred.id, "secret": secret},
            }
        }
    }
    assert ident.issue_token(ac).role_names == {"member"}
    ident.revoke_token(token)
    with pytest.raises(Unauthorized):
        other.context_from_token(token)


def test_generation_read_on_postgres_follows_bumps(pg_runtime) -> None:
    """The validation's generation read (straight through the driver on a pooled connection)
    sees each bump at once and leaves no transaction open on the connection it gives back."""
    from overcast.identity.revocation import GenerationWatch, bump_generation

    db = pg_runtime.db
    watch = GenerationWatch(db)
    before = watch.read_generation()
    for n in (1, 2):
        with db.session() as s:
            bump_generation(s)
        assert watch.read_generation() == before + n
    admin = Database(db.url)
    try:
        with admin.engine.connect() as conn:
            states = conn.execute(
                text(
                    "SELECT state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalars()
            assert "idle in transaction" not in set(states)
    finally:
        admin.dispose()


def test_generation_read_retries_on_a_connection_dropped_unnoticed(pg_runtime, monkeypatch, caplog) -> None:
    """A pooled connection that the server dropped but the checkout check let through (its
    socket said nothing yet) fails the read once; the read is tried again on a new connection."""
    import overcast.db.engine as engine_module
    from overcast.identity.revocation import GenerationWatch, bump_generation

    db = pg_runtime.db
    watch = GenerationWatch(db)
    with db.session() as s:
        bump_generation(s)
    generation = watch.read_generation()
    assert terminate_connections(db.url)  # every connection of the runtime's pool is dropped
    monkeypatch.setattr(engine_module, "_has_news", lambda _conn: False)  # the check sees nothing
    with caplog.at_level("WARNING", logger="overcast.db.engine"):
        assert watch.read_generation() == generation
    assert "retrying the read (1/2)" in caplog.text  # the dead connection was tried, and replaced
