"""Engines and sessions, with the per-backend settings that make them safe to share."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

T = TypeVar("T")
READ_ATTEMPTS = 3


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoint, never corrupt
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, echo: bool = False, pool_size: int = 10) -> Engine:
    """An engine for ``url``. SQLite gets WAL and a busy timeout; every backend gets
    pre-ping so a dropped connection (database restart) is replaced, not reported."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=2 * pool_size,
            pool_pre_ping=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=True)


class Database:
    """An engine plus a session factory. ``with db.session() as s:`` commits on success and
    rolls back on any exception, so a failed request leaves nothing half-written."""

    def __init__(self, url: str, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo, pool_size=pool_size)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def read(self, fn: Callable[[Session], T], attempts: int = READ_ATTEMPTS) -> T:
        """Run the read-only ``fn(session)`` in its own transaction, again (on a fresh
        connection) if the database connection was lost meanwhile: a PostgreSQL restart or
        failover costs a retry, not an error. Only for reads: a write is not idempotent."""
        for attempt in range(1, attempts + 1):
            try:
                with self.session() as s:
                    return fn(s)
            except OperationalError as exc:
                if attempt == attempts or not _is_disconnect(exc):
                    raise
                log.warning("database connection lost (%s); retrying the read (%d/%d)", exc.orig, attempt, attempts - 1)
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.engine.dispose()


def _is_disconnect(exc: DBAPIError) -> bool:
    """A lost connection (retry on a new one), not a query error such as a lock timeout."""
    if exc.connection_invalidated:
        return True
    text = str(exc.orig).lower()
    return any(m in text for m in ("terminating connection", "server closed the connection", "connection refused",
                                   "could not connect", "connection is closed", "ssl connection has been closed",
                                   "consuming input failed"))
