"""Group commit (overcast.db.group): concurrent write jobs share a transaction, and one job's
error stays its own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from overcast.db import Database
from overcast.db.group import GroupCommit


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/group.db")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0))"))
    yield db
    db.dispose()


def rows(db: Database) -> dict[int, int]:
    with db.engine.connect() as conn:
        return {k: v for k, v in conn.execute(text("SELECT k, v FROM t"))}


def insert(k: int, v: int = 0) -> Any:
    def job(s: Any) -> int:
        s.execute(text("INSERT INTO t (k, v) VALUES (:k, :v)"), {"k": k, "v": v})
        return k

    return job


def burst(group: GroupCommit, jobs: list[Any], hold: threading.Event) -> list[Any]:
    """Run ``jobs`` from as many threads while the first job of all holds the group busy
    (so the others queue and are written as batches); each thread's result or error."""
    out: list[Any] = [None] * len(jobs)

    def blocker(s: Any) -> None:
        hold.wait(10)

    first = threading.Thread(target=group.run, args=(blocker,))
    first.start()
    while not group._busy:  # the blocker leads before the others come
        threading.Event().wait(0.001)

    def call(i: int) -> None:
        try:
            out[i] = group.run(jobs[i])
        except Exception as exc:  # noqa: BLE001 - recorded for the test
            out[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    while len(group._queue) < len(jobs):  # every job queued behind the blocker
        threading.Event().wait(0.005)
    hold.set()
    first.join(10)
    for t in threads:
        t.join(10)
    return out


def test_a_lone_job_runs_at_once_in_its_own_transaction(db: Database) -> None:
    group = GroupCommit(db)
    assert group.run(insert(1)) == 1
    assert rows(db) == {1: 0}


def test_queued_jobs_are_written_in_fewer_transactions(db: Database) -> None:
    group = GroupCommit(db, max_batch=4)
    commits = []
    from sqlalchemy import event

    event.listen(db.engine, "commit", lambda conn: commits.append(1))
    out = burst(group, [insert(k) for k in range(10)], threading.Event())
    assert out == list(range(10))
    assert rows(db) == {k: 0 for k in range(10)}
    # 10 jobs in batches of at most 4 (the blocker wrote nothing): 3 commits, not 10
    assert len(commits) == 3


def test_a_failing_job_fails_alone_and_the_others_are_written(db: Database) -> None:
    group = GroupCommit(db)
    group.run(insert(5))
    jobs = [insert(1), insert(5), insert(2)]  # the second one collides with the row 5
    out = burst(group, jobs, threading.Event())
    assert out[0] == 1 and out[2] == 2
    assert "UNIQUE" in str(out[1])
    assert rows(db) == {1: 0, 2: 0, 5: 0}


def test_a_job_that_raises_after_writing_leaves_nothing(db: Database) -> None:
    group = GroupCommit(db)

    def half(s: Any) -> None:
        s.execute(text("INSERT INTO t (k, v) VALUES (7, 0)"))
        raise ValueError("refused")

    out = burst(group, [insert(1), half, insert(2)], threading.Event())
    assert isinstance(out[1], ValueError)
    assert rows(db) == {1: 0, 2: 0}


def test_jobs_see_earlier_jobs_of_their_batch(db: Database) -> None:
    """A conditional write (a quota claim) counts what the jobs before it in the batch took."""
    group = GroupCommit(db)
    group.run(insert(1, 2))

    def take(s: Any) -> bool:
        return s.execute(text("UPDATE t SET v = v - 1 WHERE k = 1 AND v >= 1")).rowcount == 1

    out = burst(group, [take, take, take], threading.Event())
    assert sorted(out) == [False, True, True]
    assert rows(db) == {1: 0}


def test_a_job_that_runs_another_job_is_refused_not_hung(db: Database) -> None:
    group = GroupCommit(db)
    with pytest.raises(RuntimeError, match="inside one of its jobs"):
        group.run(lambda s: group.run(insert(1)))
    assert group.run(insert(2)) == 2  # the group is usable afterwards
    assert rows(db) == {2: 0}


def test_other_backends_write_each_job_alone() -> None:
    class Fake:
        is_sqlite = False

        def __init__(self) -> None:
            self.sessions = 0

        def session(self) -> Any:
            import contextlib

            self.sessions += 1
            return contextlib.nullcontext("s")

    fake = Fake()
    group = GroupCommit(fake)
    assert [group.run(lambda s: s + "!") for _ in range(3)] == ["s!"] * 3
    assert fake.sessions == 3 and not group.batching
