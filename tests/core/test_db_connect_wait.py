"""A PostgreSQL server with no room for one more connection: a new connection waits (up to
``[database] connect_wait``) for one to be given back instead of failing the request with
"too many clients already"; other connection failures are still raised at once.

The server's own ``max_connections`` is shared with every other test on the machine, so the
tests fill a role's ``CONNECTION LIMIT`` instead: PostgreSQL refuses a connection over it the
same way (SQLSTATE 53300, "too many connections for role")."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from overcast.db import Database
from overcast.testing.postgres import fresh_database, limited_role

pytestmark = pytest.mark.postgres


@contextmanager
def one_connection_taken(wait: float) -> Iterator[tuple[Any, Database]]:
    """A role allowed one connection, that connection taken (by the first database's
    engine), and a second database of the role whose connections wait ``wait`` seconds."""
    with fresh_database("overcast_connwait") as url, limited_role(url, 1) as limited:
        holder = Database(limited, pool_size=1, max_overflow=0)
        waiter = Database(limited, pool_size=1, max_overflow=0, connect_wait=wait)
        try:
            with holder.engine.connect() as held:
                yield held, waiter
        finally:
            waiter.dispose()
            holder.dispose()


def test_a_connection_waits_for_room_and_gets_it() -> None:
    with one_connection_taken(wait=20) as (held, waiter):

        def give_back() -> None:
            time.sleep(0.6)
            held.invalidate()  # closes the role's one connection: the server has room again

        threading.Thread(target=give_back).start()
        t0 = time.monotonic()
        with waiter.session() as s:
            assert s.execute(text("SELECT 7")).scalar() == 7
        assert time.monotonic() - t0 >= 0.5  # it waited for the holder, then got in


def test_the_wait_is_bounded_and_says_why() -> None:
    with one_connection_taken(wait=0.5) as (_held, waiter):
        t0 = time.monotonic()
        with pytest.raises(OperationalError, match="too many connections for role"):
            with waiter.session() as s:
                s.execute(text("SELECT 1"))
        assert 0.3 <= time.monotonic() - t0 < 5


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
