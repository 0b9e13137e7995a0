"""Migrations run on an empty database, on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from overcast.db import Database, upgrade
from overcast.db.migrate import head_revision, shipped_head
from overcast.db.models import Base
from overcast.db.models.hosts import HostRecord

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/test.db")
    yield db
    db.dispose()


@pytest.fixture
def postgres_db() -> Iterator[Database]:
    name = f"overcast_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def check_migrations(db: Database) -> None:
    assert upgrade(db) == head_revision(db)
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    assert upgrade(db) == head_revision(db)  # a second run is a no-op


def test_the_shipped_head_is_alembics(sqlite_db: Database) -> None:
    assert shipped_head() == head_revision(sqlite_db)


def test_a_database_at_head_is_opened_without_importing_alembic(sqlite_db: Database) -> None:
    """A started cloud's processes never need Alembic (with Mako and Pygments, ~10 MiB each)."""
    from overcast.testing.imports import imported_by

    upgrade(sqlite_db)
    opening = (
        f"from overcast.db import Database, upgrade; assert upgrade(Database({sqlite_db.url!r})) == {shipped_head()!r}"
    )
    assert imported_by(opening, ["alembic"]) == []


def test_migrations_on_sqlite(sqlite_db: Database) -> None:
    check_migrations(sqlite_db)
    with sqlite_db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


@pytest.mark.postgres
def test_migrations_on_postgresql(postgres_db: Database) -> None:
    check_migrations(postgres_db)


def test_a_failed_transaction_leaves_nothing(sqlite_db: Database) -> None:
    upgrade(sqlite_db)
    with pytest.raises(RuntimeError):
        with sqlite_db.session() as s:
            s.add(HostRecord(name="half", driver="fake"))
            s.flush()
            raise RuntimeError("crash halfway")
    with sqlite_db.session() as s:
        assert s.query(HostRecord).count() == 0


def test_sqlite_writers_queue_in_process_and_always_let_go(sqlite_db: Database) -> None:
    """Concurrent writers all succeed, each waits on the in-process write lock (not SQLite's
    sleeping busy handler), and the lock is free again after commit, rollback and plain reads."""
    import threading

    from overcast.db.engine import sqlite_write_lock

    upgrade(sqlite_db)
    lock = sqlite_write_lock(sqlite_db.engine)
    assert lock is not None
    unlocked_writes = []

    def write(i: int) -> None:
        with sqlite_db.session() as s:
            s.add(HostRecord(name=f"h{i}", driver="fake"))
            s.flush()
            if not lock.locked():  # a writer holds it until its commit
                unlocked_writes.append(i)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with sqlite_db.session() as s:
        assert s.query(HostRecord).count() == 16
    assert unlocked_writes == []
    with pytest.raises(RuntimeError):  # a rolled-back writer gives the lock back too
        with sqlite_db.session() as s:
            s.add(HostRecord(name="rolled-back", driver="fake"))
            s.flush()
            raise RuntimeError("crash")
    with sqlite_db.engine.begin() as conn:  # Core-level writes and reads
        conn.execute(text("UPDATE hosts SET driver = 'fake2' WHERE name = 'h0'"))
    with sqlite_db.engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM hosts")).scalar()
    assert lock.acquire(timeout=1), "the write lock was left held"
    lock.release()


def test_sqlite_writers_of_several_processes_queue_on_a_file_lock(sqlite_db: Database, tmp_path: Path) -> None:
    """A writer waits while another process (an API worker) holds ``<database>.write-lock``,
    and takes it the moment it is free; a plain read never waits."""
    import subprocess
    import sys
    import time

    upgrade(sqlite_db)
    lock_file = f"{sqlite_db.engine.url.database}.write-lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            "f = open(sys.argv[1], 'a')\n"
            "fcntl.flock(f, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "time.sleep(0.6)\n",
            lock_file,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        with sqlite_db.engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM hosts")).scalar()
        assert time.monotonic() - t0 < 0.3
        with sqlite_db.session() as s:
            s.add(HostRecord(name="after-the-other-process", driver="fake"))
        waited = time.monotonic() - t0
        assert 0.3 < waited < 5, waited
    finally:
        holder.wait(10)
    t1 = time.monotonic()
    with sqlite_db.session() as s:  # free again: no wait
        s.add(HostRecord(name="again", driver="fake"))
    assert time.monotonic() - t1 < 1
