"""Group commit: concurrent small write transactions of one process share one transaction.

SQLite has one writer at a time, and every write transaction pays for its ``BEGIN`` and
``COMMIT``, for the hand-over of the write lock (this process's queue and the flock between
processes, see :mod:`overcast.db.engine`) and for the thread switches of waiting for it.
Under a burst (a hundred server creates at once) the writers queue behind one another and
most of that cost is the queue. Here a writer that finds a batch being written leaves its
work in a queue and waits; when that batch has committed, the first writer left in the queue
leads the next one: it runs up to ``max_batch`` queued jobs in one transaction, commits once
and hands each caller its own result. A writer that finds no batch running runs at once, in
its own transaction: nobody waits for company, and no other work (a server task, a read)
waits for this.

A job is ``fn(session) -> result``. It writes only through ``session`` and does nothing
outside the database (events, starting tasks): the caller does that once :meth:`run` has
returned, i.e. once its write is committed. When a job of a batch raises, the batch is
rolled back and each of its jobs is run again alone, in its own transaction, so a job's
refusal (over quota...) or error is its own and never another's; a job may thus run twice,
the first run having left nothing behind.

Only SQLite batches: a server database runs concurrent transactions side by side, so there
:meth:`run` is one transaction per job, as ``with db.session()`` would be.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")

#: jobs written in one transaction at most (the write lock is held for all of them)
MAX_BATCH = 16


class _Job(Generic[T]):
    __slots__ = ("fn", "wake", "lead", "done", "result", "error")

    def __init__(self, fn: Callable[[Session], T]) -> None:
        self.fn = fn
        self.wake = threading.Event()
        self.lead = False  # woken to lead the next batch (this job first in it)
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    """Runs write jobs, batching those that arrive while another batch is being written."""

    def __init__(self, db: Any, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.max_batch = max_batch
        self.batching = bool(db.is_sqlite)
        self._lock = threading.Lock()
        self._queue: deque[_Job[Any]] = deque()
        self._busy = False
        self._writing = threading.local()  # set on the thread running a batch's jobs

    def run(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in a committed transaction (perhaps shared); its result or error."""
        if not self.batching:
            with self.db.session() as s:
                return fn(s)
        if getattr(self._writing, "active", False):  # it would wait for itself
            raise RuntimeError("GroupCommit.run called from inside one of its jobs")
        job: _Job[T] = _Job(fn)
        with self._lock:
            lead = not self._busy
            if lead:
                self._busy = True
            else:
                self._queue.append(job)
        if not lead:
            job.wake.wait()
            lead = job.lead
        if lead:
            self._lead(job)
        if job.error is not None:
            raise job.error
        return job.result

    def _lead(self, first: _Job[Any]) -> None:
        """Write ``first`` and what is queued behind it, then wake them and the next leader."""
        batch = [first]
        with self._lock:
            while self._queue and len(batch) < self.max_batch:
                batch.append(self._queue.popleft())
        self._writing.active = True
        try:
            self._write(batch)
        except BaseException as exc:  # noqa: BLE001 - (interrupted) every caller learns it
            for job in batch:
                if not job.done:
                    job.error, job.done = exc, True
        finally:
            self._writing.active = False
            with self._lock:
                following = self._queue.popleft() if self._queue else None
                if following is None:
                    self._busy = False
            for job in batch[1:]:
                job.wake.set()
            if following is not None:
                following.lead = True
                following.wake.set()

    def _write(self, batch: list[_Job[Any]]) -> None:
        if len(batch) > 1:
            try:
                with self.db.session() as s:
                    results = []
                    for job in batch:
                        results.append(job.fn(s))
                        # each job sees the database, not another job's loaded objects
                        s.flush()
                        s.expunge_all()
            except Exception:  # noqa: BLE001 - rolled back; each job alone says whose it was
                pass
            else:
                for job, result in zip(batch, results):
                    job.result, job.done = result, True
                return
        for job in batch:
            try:
                with self.db.session() as s:
                    job.result = job.fn(s)
            except Exception as exc:  # noqa: BLE001 - the caller's own error, raised to it
                job.error = exc
            job.done = True
