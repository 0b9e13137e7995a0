"""One container's SQLite index for the ``fs`` object store (see
:mod:`overcast_storage_fs.objects`): the row per object name that says which data file holds
its current version, with the object count and bytes kept by triggers.

Index commits use ``synchronous=NORMAL`` and are then made durable by a *group* fsync of the
WAL: each writer waits for one fsync that started after its commit, so concurrent writers
share fsyncs instead of queueing behind the write lock. PUTs also share transactions: rows
that wait while one batch commits go in the next batch, one ``BEGIN IMMEDIATE``/``COMMIT``
for all of them, and each PUT is acknowledged only once its batch's commit is durable.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    name TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT NOT NULL,
    ts INTEGER NOT NULL,
    meta TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identity (account TEXT NOT NULL, container TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stats (one INTEGER PRIMARY KEY CHECK (one = 0), objects INTEGER NOT NULL, bytes INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS objects_inserted AFTER INSERT ON objects
    BEGIN UPDATE stats SET objects = objects + 1, bytes = bytes + new.size; END;
CREATE TRIGGER IF NOT EXISTS objects_deleted AFTER DELETE ON objects
    BEGIN UPDATE stats SET objects = objects - 1, bytes = bytes - old.size; END;
CREATE TRIGGER IF NOT EXISTS objects_resized AFTER UPDATE OF size ON objects
    BEGIN UPDATE stats SET bytes = bytes - old.size + new.size; END;
"""


class _GroupSync:
    """fsync of one file shared by every writer that committed before it started. The file
    stays open between syncs; if it was replaced (SQLite removes the WAL when its last
    connection closes), it is opened again."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.tickets = itertools.count(1)
        self.done = 0
        self.fd = -1
        self.ino = -1

    def sync(self) -> None:
        ticket = next(self.tickets)
        with self.lock:
            if self.done >= ticket:
                return
            started = next(self.tickets)
            try:
                ino = os.stat(self.path).st_ino
            except FileNotFoundError:  # checkpointed and removed: already durable
                self.done = started
                return
            if ino != self.ino:
                if self.fd >= 0:
                    os.close(self.fd)
                self.fd, self.ino = os.open(self.path, os.O_RDONLY), ino
            os.fsync(self.fd)
            self.done = started


UPSERT = (
    "INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET file = excluded.file, "
    "size = excluded.size, etag = excluded.etag, content_type = excluded.content_type, ts = excluded.ts, "
    "meta = excluded.meta"
)


class _Write:
    """One PUT's row waiting for a batch commit. ``result`` is (applied, the file it replaced)
    once committed; ``error`` is why it failed (with no ``result``: nothing was indexed)."""

    __slots__ = ("row", "result", "error")

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.row = row
        self.result: tuple[bool, str | None] | None = None
        self.error: BaseException | None = None


class ContainerIndex:
    """One container's SQLite index, with a connection per thread."""

    def __init__(self, path: Path, account: str, container: str, fsync: bool) -> None:
        self.path = path
        self.fsync = fsync
        self.local = threading.local()
        self.wal_sync = _GroupSync(str(path) + "-wal")
        self._pending: list[_Write] = []
        self._pending_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        conn = self.conn()
        conn.executescript(SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT count(*) FROM identity").fetchone()[0] == 0:
                conn.execute("INSERT INTO identity VALUES (?, ?)", (account, container))
            # usage is kept by the triggers from here on; count what is there once
            conn.execute("INSERT OR IGNORE INTO stats SELECT 0, count(*), coalesce(sum(size), 0) FROM objects")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.ino = os.stat(path).st_ino

    def current(self) -> bool:
        """Whether the file is still the one this index opened (another process serving the
        same store may have dropped the container, and a new one may have taken its name)."""
        try:
            return os.stat(self.path).st_ino == self.ino
        except FileNotFoundError:
            return False

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self.local.conn = conn
        return conn

    def commit_durably(self) -> None:
        if self.fsync:
            self.wal_sync.sync()

    def upsert(self, row: tuple[Any, ...]) -> _Write:
        """Index an object version (``name, file, size, etag, content_type, ts, meta``) unless
        a newer one is there; returns once that is durable (or failed). Whoever takes the
        commit lock commits every row queued so far in one transaction."""
        write = _Write(row)
        with self._pending_lock:
            self._pending.append(write)
        with self._commit_lock:
            if write.result is None and write.error is None:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._commit(batch)
        return write

    def _commit(self, batch: list[_Write]) -> None:
        conn = self.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = []
            for write in batch:
                name, ts = write.row[0], write.row[5]
                row = conn.execute("SELECT file, ts FROM objects WHERE name = ?", (name,)).fetchone()
                if row is not None and row[1] > ts:  # a newer write already landed: it wins
                    results.append((False, None))
                    continue
                conn.execute(UPSERT, write.row)
                results.append((True, row[0] if row is not None else None))
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for write in batch:
                write.error = exc
            return
        for write, result in zip(batch, results):
            write.result = result
        try:
            self.commit_durably()
        except BaseException as exc:  # committed but maybe not durable: not acknowledged
            for write in batch:
                write.error = exc
