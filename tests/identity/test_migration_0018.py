"""Migration 0018 on a database that already holds identity data: assignments keep working
(now non-inherited), the default roles get the implication rules that were built in before,
and roles become global. On SQLite and PostgreSQL; and back down to 0017."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic import command
from sqlalchemy import text

from overcast.db import Database, upgrade
from overcast.db.migrate import alembic_config
from tests.core.test_db import postgres_db, sqlite_db  # noqa: F401  (fixtures)

NOW = datetime(2026, 1, 1)


def _seed(db: Database) -> dict[str, str]:
    ids = {"admin": "a" * 32, "member": "b" * 32, "reader": "c" * 32}
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO identity_domains (id, name, description, enabled, created_at) VALUES ('default', 'Default', '', true, :t)"
            ),
            {"t": NOW},
        )
        for name, rid in ids.items():
            conn.execute(
                text("INSERT INTO identity_roles (id, name, description, created_at) VALUES (:i, :n, '', :t)"),
                {"i": rid, "n": name, "t": NOW},
            )
        conn.execute(
            text(
                "INSERT INTO identity_projects (id, name, domain_id, description, enabled, tags, created_at, updated_at)"
                " VALUES (:i, 'p', 'default', '', true, '[]', :t, :t)"
            ),
            {"i": "d" * 32, "t": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO identity_role_assignments (actor_type, actor_id, project_id, role_id)"
                " VALUES ('user', :u, :p, :r)"
            ),
            {"u": "e" * 32, "p": "d" * 32, "r": ids["admin"]},
        )
        conn.execute(
            text(
                "INSERT INTO identity_users (id, name, domain_id, enabled, description, extra, created_at, updated_at)"
                " VALUES (:u, 'u', 'default', true, '', '{}', :t, :t)"
            ),
            {"u": "e" * 32, "t": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO identity_app_credentials (id, name, user_id, project_id, secret_hash, description,"
                " role_ids, unrestricted, created_at) VALUES (:i, 'c', :u, :p, 'h', '', '[]', false, :t)"
            ),
            {"i": "f" * 32, "u": "e" * 32, "p": "d" * 32, "t": NOW},
        )
    return ids


def _check(db: Database) -> None:
    upgrade(db, "0017")
    ids = _seed(db)
    upgrade(db)
    with db.engine.connect() as conn:
        rules = set(conn.execute(text("SELECT prior_role_id, implied_role_id FROM identity_implied_roles")))
        assert rules == {(ids["admin"], ids["member"]), (ids["member"], ids["reader"])}
        rows = list(conn.execute(text("SELECT role_id, inherited FROM identity_role_assignments")))
        assert [(r, bool(i)) for r, i in rows] == [(ids["admin"], False)]
        assert {d for (d,) in conn.execute(text("SELECT domain_id FROM identity_roles"))} == {""}
        assert conn.execute(text("SELECT count(*) FROM identity_app_credentials")).scalar() == 1
    command.downgrade(alembic_config(db), "0017")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM identity_role_assignments")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM identity_app_credentials")).scalar() == 1


def test_upgrade_keeps_identity_data_on_sqlite(sqlite_db: Database) -> None:  # noqa: F811
    _check(sqlite_db)


@pytest.mark.postgres
def test_upgrade_keeps_identity_data_on_postgresql(postgres_db: Database) -> None:  # noqa: F811
    _check(postgres_db)
