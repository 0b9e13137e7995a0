"""A database connection lost in the middle of a claim's or a give-back's transaction, on
PostgreSQL (for the tests of outcomes written exactly once)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text


class LoseConnection:
    """Wraps ``module.name`` (a statement of a claim's or a give-back's transaction, called with
    the session first) to lose the connection on its first call: ``mode`` ``"before"`` ends the
    transaction's server process before it commits, ``"after"`` lets the COMMIT go through,
    then closes the connection and raises what psycopg raises for a broken one, as if the
    server's answer had been lost on the way."""

    def __init__(self, compute: Any, monkeypatch: pytest.MonkeyPatch, module: Any, name: str, mode: str) -> None:
        self.mode = mode
        self.calls = 0
        self.lost_answers = 0
        self.real = getattr(module, name)
        self._armed: list[Any] = []
        dialect = compute.runtime.db.engine.dialect
        real_commit = dialect.do_commit

        def do_commit(connection: Any) -> None:  # the pool's proxy of psycopg's connection
            real_commit(connection)
            if connection.dbapi_connection in self._armed:
                self._armed.remove(connection.dbapi_connection)
                self.lost_answers += 1
                connection.dbapi_connection.close()
                raise psycopg.OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(dialect, "do_commit", do_commit)
        monkeypatch.setattr(module, name, self)

    def __call__(self, session: Any, *args: Any) -> Any:
        result = self.real(session, *args)
        self.calls += 1
        if self.calls > 1:
            return result
        if self.mode == "before":
            session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            raise AssertionError("the terminated connection answered")
        self._armed.append(session.connection().connection.dbapi_connection)
        return result
