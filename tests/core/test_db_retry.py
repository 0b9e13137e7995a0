"""A lost PostgreSQL connection: the pool replaces dead connections before use (pre-ping),
an idempotent read that loses its connection mid-way is run again on a new one, and so is a
task's last write (``retry_while_lost``), for a bounded time."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from overcast.db import Database
from overcast.testing.postgres import fresh_database, terminate_connections

pytestmark = pytest.mark.postgres


def test_pooled_connections_killed_between_uses_are_replaced() -> None:
    with fresh_database("overcast_retry") as url:
        db = Database(url, pool_size=2)
        try:
            with db.session() as s:
                assert s.execute(text("SELECT 1")).scalar() == 1
            assert terminate_connections(url) >= 1  # the pooled connection is now dead
            with db.session() as s:
                assert s.execute(text("SELECT 2")).scalar() == 2
        finally:
            db.dispose()


def test_a_read_that_loses_its_connection_is_retried() -> None:
    with fresh_database("overcast_retry") as url:
        db = Database(url, pool_size=2)
        attempts: list[int] = []

        def read(s) -> int:
            attempts.append(1)
            if len(attempts) == 1:  # the server goes away in the middle of the read
                s.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            return s.execute(text("SELECT 42")).scalar()

        try:
            assert db.read(read) == 42
            assert len(attempts) == 2
            with pytest.raises(ProgrammingError):  # a query error is not a lost connection: no retry
                db.read(lambda s: s.execute(text("SELECT * FROM no_such_table")).all())

            def always_lost(s) -> None:
                s.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

            with pytest.raises(OperationalError):  # gives up after a few attempts
                db.read(always_lost, attempts=2)
        finally:
            db.dispose()


def test_a_write_that_loses_its_connection_is_run_again_once_it_is_back() -> None:
    from overcast.db import retry_while_lost

    with fresh_database("overcast_retry") as url:
        db = Database(url, pool_size=2)
        attempts: list[int] = []

        def write() -> int:
            attempts.append(1)
            with db.session() as s:
                if len(attempts) == 1:  # the server goes away before the commit
                    s.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
                return s.execute(text("SELECT 5")).scalar()

        try:
            assert retry_while_lost(write, "a test row") == 5
            assert len(attempts) == 2
            with pytest.raises(ProgrammingError):  # a query error is not waited out
                retry_while_lost(lambda: db.read(lambda s: s.execute(text("SELECT * FROM nope")).all()), "x")

            def always_lost() -> None:
                with db.session() as s:
                    s.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

            with pytest.raises(OperationalError):  # the wait is bounded
                retry_while_lost(always_lost, "a test row", wait=0.5)
        finally:
            db.dispose()
