"""Engines and sessions, with the per-backend settings that make them safe to share."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import random
import select
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
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


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_HOLDS = "overcast_write_lock"
_HOLDS_FILE = "overcast_write_file_lock"
WRITE_LOCK_WAIT = 10.0  # then fall through to SQLite's own locking (busy_timeout)
FILE_LOCK_POLL = (0.0002, 0.002)  # first and longest pause between tries of another process's lock


class _SqliteWriteQueue:
    """One writer at a time inside this process, queued on a lock instead of SQLite's busy handler.

    SQLite lets one transaction write; a second writer gets SQLITE_BUSY and its busy handler
    sleeps 1, 2, 5, 10, ... up to 100 ms between retries, so under N concurrent writers a
    transaction waits for many sleeps, not for the few milliseconds the holder needed (100
    concurrent server creates took ~2 s each). Here a connection takes a process-wide lock just
    before its first INSERT/UPDATE/DELETE (which is where pysqlite issues ``BEGIN``) and gives it
    back on commit or rollback (or, failing that, when it returns to the pool); waiters wake the moment it is free, in
    order. Reads are never queued (WAL readers run beside the writer). SQLite's own locking stays
    the authority (other processes; a lock held too long times out into it).

    Between processes (``overcast up`` and its API workers on one database file) the holder
    of the lock also holds a ``flock`` on ``<database>.write-lock``; a writer of another process
    tries it every 0.2 to 2 ms rather than in SQLite's busy handler's sleeps, which grow to
    100 ms and let one process's queue keep the database while the others sleep."""

    def __init__(self, path: str | None = None) -> None:
        self.lock = threading.Lock()
        self._path = f"{path}.write-lock" if path else None
        self._fd: int | None = None
        self._fd_pid = 0

    def _lock_file(self) -> int | None:
        """This process's descriptor of the lock file (a forked child opens its own: a lock
        on an inherited descriptor would be shared with the parent)."""
        if self._path is None:
            return None
        if self._fd is None or self._fd_pid != os.getpid():
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._path = None  # a read-only place: SQLite's locking alone
                return None
            self._fd_pid = os.getpid()
        return self._fd

    def _acquire_file(self, deadline: float) -> bool:
        fd = self._lock_file()
        if fd is None:
            return False
        pause = FILE_LOCK_POLL[0]
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, FILE_LOCK_POLL[1])

    def before_execute(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        info = conn.info
        if info.get(_HOLDS) is None and statement.lstrip()[:7].upper().startswith(_WRITES):
            deadline = time.monotonic() + WRITE_LOCK_WAIT
            held = info[_HOLDS] = self.lock.acquire(timeout=WRITE_LOCK_WAIT)
            if held:
                info[_HOLDS_FILE] = self._acquire_file(deadline)

    def _release(self, info: dict) -> None:
        if info.pop(_HOLDS_FILE, None) and self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        if info.pop(_HOLDS, None):
            self.lock.release()

    def on_end(self, conn: Any) -> None:
        self._release(conn.info)

    def on_checkin(self, dbapi_connection: Any, connection_record: Any) -> None:
        self._release(connection_record.info)

    def on_reset(self, dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
        self._release(connection_record.info)


_QUEUES: weakref.WeakKeyDictionary[Engine, _SqliteWriteQueue] = weakref.WeakKeyDictionary()


def sqlite_write_lock(engine: Engine) -> threading.Lock | None:
    """The in-process write lock of a SQLite engine (None for other backends)."""
    queue = _QUEUES.get(engine)
    return queue.lock if queue else None


#: seconds a new PostgreSQL connection waits for the server to admit it (see below)
CONNECT_WAIT = 30.0
#: what PostgreSQL says when it is there but cannot take one more connection yet: all its
#: ``max_connections`` are used (53300, also for a role's or database's CONNECTION LIMIT), or
#: it is starting up or shutting down (57P03). psycopg gives no SQLSTATE for an error in the
#: connection's start-up, only the server's message (in English unless ``lc_messages`` says otherwise).
_NOT_ADMITTED = (
    "too many clients already",
    "remaining connection slots are reserved",
    "too many connections for",
    "the database system is starting up",
    "the database system is shutting down",
    "not yet accepting connections",
)


def _not_admitted(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(m in text for m in _NOT_ADMITTED)


def _connect_when_admitted(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any, wait: float) -> Any:
    """Connect, waiting (with backoff, at most ``wait`` seconds) while the server refuses the
    connection for want of room: several processes each with its own pool (two controllers,
    their API workers, a bench) can together ask for more than ``max_connections`` in a burst,
    and a request then waits a moment for a connection another process gives back, as it waits
    for one of its own pool's, instead of failing with "too many clients already". Any other
    failure (refused, bad password) is raised at once."""
    deadline = time.monotonic() + wait
    delay = 0.02
    waited = False
    while True:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:  # noqa: BLE001 - re-raised unless the server is only full
            remaining = deadline - time.monotonic()
            if not _not_admitted(exc) or remaining <= 0:
                raise
            if not waited:
                waited = True
                log.info("database has no room for another connection yet; waiting up to %.0f s: %s", wait, exc)
            time.sleep(min(remaining, delay * random.uniform(0.5, 1.5)))  # spread: waiters do not retry in step
            delay = min(delay * 2, 1.0)


def make_engine(
    url: str,
    echo: bool = False,
    pool_size: int = 10,
    max_overflow: int | None = None,
    connect_wait: float = CONNECT_WAIT,
) -> Engine:
    """An engine for ``url`` holding at most ``pool_size + max_overflow`` connections (default
    overflow: twice the pool). SQLite gets WAL, a busy timeout and an in-process write queue;
    PostgreSQL gets a check on checkout so a dropped connection (database restart) is replaced,
    not reported (see :func:`_checkout_ping`), and a new connection the server has no room for
    yet waits up to ``connect_wait`` seconds for one (see :func:`_connect_when_admitted`)."""
    overflow = 2 * pool_size if max_overflow is None else max_overflow
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=overflow,
            pool_use_lifo=True,  # see below
            pool_pre_ping=False,  # a file cannot drop the connection; the ping was a query per checkout
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        database = engine.url.database
        queue = _QUEUES[engine] = _SqliteWriteQueue(database if database and database != ":memory:" else None)
        event.listen(engine, "before_cursor_execute", queue.before_execute)
        event.listen(engine, "commit", queue.on_end)
        event.listen(engine, "rollback", queue.on_end)
        event.listen(engine, "reset", queue.on_reset)
        event.listen(engine, "checkin", queue.on_checkin)
        event.listen(engine, "close", queue.on_checkin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # LIFO: the connection used last is used next, so a few stay busy and warm (psycopg
    # prepares a statement on a connection's fifth run of it; a FIFO pool rotated every
    # statement over all its connections and PostgreSQL parsed almost each one afresh)
    engine = create_engine(url, echo=echo, pool_size=pool_size, max_overflow=overflow, pool_use_lifo=True)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkin", _note_idle)
        event.listen(engine, "checkout", _checkout_ping)
        event.listen(engine, "do_connect", functools.partial(_connect_when_admitted, wait=connect_wait))
    return engine


#: a pooled connection idle longer than this is pinged before use (a firewall or the server may
#: have dropped it without a word); one used more recently is pinged only if it has something to say
PING_IDLE_AFTER = 30.0
_IDLE_SINCE = "overcast_idle_since"


def _note_idle(dbapi_connection: Any, connection_record: Any) -> None:
    connection_record.info[_IDLE_SINCE] = time.monotonic()


def _has_news(dbapi_connection: Any) -> bool:
    """Whether the server sent something to an idle connection: between transactions it says
    nothing unless it is going away (a terminated backend's FATAL message, then end of file)."""
    try:
        fd = dbapi_connection.pgconn.socket
    except Exception:  # noqa: BLE001 - closed or broken: ask
        return True
    poll = select.poll()
    poll.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poll.poll(0))


def _checkout_ping(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """Pre-ping without a round trip per checkout (``pool_pre_ping`` was one per transaction,
    a fifth of the round trips of a server create): a pooled connection is pinged only when
    its socket has something to read (the server closed it: a restart, ``pg_terminate_backend``)
    or it sat idle for :data:`PING_IDLE_AFTER`. A dead one is replaced, as with pre-ping."""
    idle_since = connection_record.info.get(_IDLE_SINCE)
    if idle_since is None:  # just connected
        return
    if time.monotonic() - idle_since < PING_IDLE_AFTER and not _has_news(dbapi_connection):
        return
    try:
        _ping(dbapi_connection)
    except Exception as exc:  # noqa: BLE001 - any failure: the pool replaces the connection
        raise DisconnectionError(f"pooled connection is gone: {exc}") from exc


def _ping(dbapi_connection: Any) -> None:
    """One empty statement outside any transaction (what SQLAlchemy's pre-ping sends)."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        dbapi_connection.execute(";")
    finally:
        if not dbapi_connection.closed:
            dbapi_connection.autocommit = autocommit


class Database:
    """An engine plus a session factory. ``with db.session() as s:`` commits on success and
    rolls back on any exception, so a failed request leaves nothing half-written."""

    def __init__(
        self,
        url: str,
        echo: bool = False,
        pool_size: int = 10,
        max_overflow: int | None = None,
        connect_wait: float = CONNECT_WAIT,
    ) -> None:
        self.url = url
        self.engine = make_engine(
            url, echo=echo, pool_size=pool_size, max_overflow=max_overflow, connect_wait=connect_wait
        )
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        # reads on a server database run without BEGIN and COMMIT: at READ COMMITTED every
        # statement sees its own snapshot anyway, so a read-only transaction only added two
        # round trips (SQLite keeps its transactions: a WAL reader's snapshot spans the read)
        self._read_factory = (
            self._factory
            if self.is_sqlite
            else sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
        )

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

    @contextmanager
    def _read_session(self) -> Iterator[Session]:
        session = self._read_factory()
        try:
            yield session
        finally:
            session.close()

    def read(self, fn: Callable[[Session], T], attempts: int = READ_ATTEMPTS) -> T:
        """Run the read-only ``fn(session)`` in its own transaction, again (on a fresh
        connection) if the database connection was lost meanwhile: a PostgreSQL restart or
        failover costs a retry, not an error. Only for reads: a write is not idempotent (and on
        a server database each statement here commits on its own)."""

        def once() -> T:
            with self._read_session() as s:
                return fn(s)

        return _read_retrying(once, attempts)

    def value(self, sql: str, attempts: int = READ_ATTEMPTS) -> Any:
        """The first column of the first row of the read-only, constant ``sql`` (None without a
        row). On a server database straight through the driver, on a pooled connection in
        autocommit: the one round trip :meth:`read` sends, without the ORM's and Core's work
        per statement (on PostgreSQL 55 against 230 µs of CPU; the identity generation read runs
        on every API request). Retried on a lost connection as :meth:`read` is."""
        if self.is_sqlite:
            return self.read(lambda s: s.execute(text(sql)).scalar(), attempts)
        return _read_retrying(lambda: self._value_once(sql), attempts)

    def _value_once(self, sql: str) -> Any:
        engine = self.engine
        dialect = engine.dialect
        conn = engine.raw_connection()  # the pool's checkout check replaces a dropped one
        try:
            driver: Any = conn.driver_connection  # psycopg's Connection
            try:
                driver.autocommit = True
                row = driver.execute(sql).fetchone()
            finally:
                if not driver.closed:
                    driver.autocommit = False
            return row[0] if row else None
        except dialect.loaded_dbapi.Error as exc:
            invalidated = dialect.is_disconnect(exc, conn.dbapi_connection, None)
            if invalidated:
                # as SQLAlchemy does on a disconnect: this connection and every one the pool
                # made before it are replaced (a server restart dropped them all)
                engine.pool._invalidate(conn, exc)  # noqa: SLF001 - what Connection does for it
            raise DBAPIError.instance(
                sql, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=invalidated, dialect=dialect
            ) from exc
        finally:
            conn.close()

    def dispose(self) -> None:
        self.engine.dispose()


#: seconds a task's last write waits for a lost database to come back (see :func:`retry_while_lost`)
OUTCOME_WAIT = 120.0


def retry_while_lost(fn: Callable[[], T], what: str, wait: float = OUTCOME_WAIT) -> T:
    """``fn()``, run again (with backoff, for at most ``wait`` seconds) while it fails because
    the database connection was lost: a PostgreSQL restart or failover must not lose a task's
    outcome, which would leave its server in a task state nobody finishes. Only for writes that
    may run twice: conditional on the state they move from, so a second run after a commit
    whose acknowledgement was lost finds nothing left to do. ``what`` names it in the log."""
    deadline = time.monotonic() + wait
    delay = 0.25
    while True:
        try:
            return fn()
        except OperationalError as exc:
            remaining = deadline - time.monotonic()
            if not is_disconnect(exc) or remaining <= 0:
                raise
            log.warning("database connection lost writing %s (%s); trying again", what, exc.orig)
            time.sleep(min(remaining, delay))
            delay = min(delay * 2, 5.0)


def _read_retrying(read: Callable[[], T], attempts: int) -> T:
    """``read()``, again on a fresh connection while it fails on a lost one (``attempts`` in all)."""
    for attempt in range(1, attempts + 1):
        try:
            return read()
        except OperationalError as exc:
            if attempt == attempts or not is_disconnect(exc):
                raise
            log.warning("database connection lost (%s); retrying the read (%d/%d)", exc.orig, attempt, attempts - 1)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def is_disconnect(exc: DBAPIError) -> bool:
    """A lost connection (retry on a new one), not a query error such as a lock timeout."""
    if exc.connection_invalidated:
        return True
    text = str(exc.orig).lower()
    return any(
        m in text
        for m in (
            "terminating connection",
            "server closed the connection",
            "connection refused",
            "could not connect",
            "connection is closed",
            "ssl connection has been closed",
            "consuming input failed",
        )
    )
