"""A PostgreSQL server with no room for one more connection: a new connection waits (up to
``[database] connect_wait``) for one to be given back instead of failing the request with
"too many clients already"; other connection failures are still raised at once.

The server's own ``max_connections`` is shared with every other test on the machine, so the
tests fill a role's ``CONNECTION LIMIT`` instead: PostgreSQL refuses a connection over it the
same way (SQLSTATE 53300, "too many connections for role")."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from overcast.db import Database
from overcast.testing.postgres import PG_ADMIN_URL, fresh_database

pytestmark = pytest.mark.postgres


@contextmanager
def limited_role(url: str, limit: int) -> Iterator[str]:
    """``url`` as a new role allowed ``limit`` connections at a time."""
    role = f"oc_limited_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT {limit}'))
        try:
            yield url.replace("postgres@", f"{role}@", 1)
        finally:
            with admin.connect() as conn:
                name = url.rsplit("/", 1)[1]
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r AND datname = :d"),
                    {"r": role, "d": name},
                )
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    finally:
        admin.dispose()


def test_a_connection_waits_for_room_and_gets_it() -> None:
    with fresh_database("overcast_connwait") as url, limited_role(url, 1) as limited:
        holder = Database(limited, pool_size=1, max_overflow=0)
        waiter = Database(limited, pool_size=1, max_overflow=0, connect_wait=20)
        try:
            held = holder.engine.connect()  # the role's one connection
            released_at: list[float] = []

            def give_back() -> None:
                time.sleep(0.6)
                released_at.append(time.monotonic())
                held.close()
                holder.dispose()  # closes the pooled connection: the server has room again

            threading.Thread(target=give_back).start()
            t0 = time.monotonic()
            with waiter.session() as s:
                assert s.execute(text("SELECT 7")).scalar() == 7
            assert time.monotonic() - t0 >= 0.5  # it waited for the holder, then got in
            assert released_at and released_at[0] <= time.monotonic()
        finally:
            waiter.dispose()
            holder.dispose()


def test_the_wait_is_bounded_and_says_why() -> None:
    with fresh_database("overcast_connwait") as url, limited_role(url, 1) as limited:
        holder = Database(limited, pool_size=1, max_overflow=0)
        waiter = Database(limited, pool_size=1, max_overflow=0, connect_wait=0.5)
        try:
            with holder.engine.connect():
                t0 = time.monotonic()
                with pytest.raises(OperationalError, match="too many connections for role"):
                    with waiter.session() as s:
                        s.execute(text("SELECT 1"))
                waited = time.monotonic() - t0
                assert 0.3 <= waited < 5
        finally:
            waiter.dispose()
            holder.dispose()


def test_other_connection_failures_are_not_waited_for() -> None:
    with fresh_database("overcast_connwait") as url:
        missing = url.rsplit("/", 1)[0] + "/overcast_no_such_database"
        db = Database(missing, connect_wait=30)
        try:
            t0 = time.monotonic()
            with pytest.raises(OperationalError, match="does not exist"):
                with db.session() as s:
                    s.execute(text("SELECT 1"))
            assert time.monotonic() - t0 < 5
        finally:
            db.dispose()


def test_the_pool_bounds_come_from_the_config(tmp_path, migrated_sqlite_template, overcast_pm) -> None:
    import shutil

    from overcast.config import parse_config
    from overcast.runtime import build_runtime
    from overcast.testing.fixtures import fake_config_data

    shutil.copyfile(migrated_sqlite_template, tmp_path / "overcast.db")
    data = fake_config_data(tmp_path)
    data["database"] = {"pool_size": 3, "max_overflow": 1, "connect_wait": 2}
    runtime = build_runtime(parse_config(data, tmp_path / "overcast.toml"), pm=overcast_pm, migrate=False)
    try:
        pool = runtime.db.engine.pool
        assert pool.size() == 3
        assert pool._max_overflow == 1  # type: ignore[attr-defined] # noqa: SLF001 - no public reader
    finally:
        runtime.close()
