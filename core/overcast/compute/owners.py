"""Which process runs a server's task, and whether that process is still alive.

Every process that runs server tasks (a controller, ``overcast up``, one of its API workers)
has a row in ``compute_task_runners`` from its first task on, and writes its id into
``compute_instances.task_owner`` with the task state it sets. Its row's ``expires_at`` is
moved ``grace`` seconds ahead every ``interval`` seconds by a thread of its own; a process
that stops cleanly expires its row at once.

An owner is *gone* when its row is missing or expired, or when it ran on this machine and its
process id no longer does (so the only process of an all-in-one cloud, restarted after a
crash, takes over its own interrupted tasks at once rather than when the row expires). A
process id reused since then keeps the owner "alive" until its row expires.

:meth:`TaskOwners.take_over` deletes the rows of the gone owners; the controller whose DELETE
removed a row (one of them, if several look at once) reconciles that owner's servers.
Limits: a process that could not write its row for ``grace`` seconds (a database outage that
long) is taken for gone although its tasks may still run (it writes a new row when it can);
servers whose owner has no row at all (or none recorded, before migration 0025) are
reconciled by every controller that starts meanwhile, as before owners were recorded.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, Table, delete, select, update

from overcast.db import Database
from overcast.db.models.base import utcnow
from overcast.db.models.hosts import TaskRunnerRecord

log = logging.getLogger(__name__)

_TABLE = cast(Table, TaskRunnerRecord.__table__)


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TaskOwners:
    """This process as an owner of server tasks, and the verdict on the others."""

    def __init__(self, db: Database, interval: float, grace: float) -> None:
        self.db = db
        self.interval = interval
        self.grace = grace
        self.hostname = socket.gethostname()
        self._id: str | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def id(self) -> str:
        """This process's owner id: its row is written (and kept alive) from the first use on.
        A forked child gets its own."""
        if self._id is not None and self._pid == os.getpid():
            return self._id
        with self._lock:
            if self._id is None or self._pid != os.getpid():
                self._id, self._pid = str(uuid.uuid4()), os.getpid()
                self._thread = None  # a forked child has none of its parent's threads
                self._write()
                self._stop.clear()
                self._thread = threading.Thread(target=self._beat, name="compute-task-owner", daemon=True)
                self._thread.start()
            return self._id

    def _write(self) -> None:
        now = utcnow()
        expires = now + timedelta(seconds=self.grace)
        with self.db.session() as s:
            moved = cast(
                "CursorResult[object]",
                s.execute(_TABLE.update().where(_TABLE.c.id == self._id).values(expires_at=expires)),
            ).rowcount
            if moved == 0:  # new, or taken over by another controller after a long silence
                s.add(
                    TaskRunnerRecord(
                        id=self._id, hostname=self.hostname, pid=os.getpid(), started_at=now, expires_at=expires
                    )
                )

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._write()
            except Exception:  # noqa: BLE001 - the heartbeat must keep going
                log.exception("task owner heartbeat failed")

    def gone(self, row: TaskRunnerRecord, now: datetime) -> bool:
        if row.id == self._id and self._pid == os.getpid():
            return False
        if row.expires_at < now:
            return True
        return row.hostname == self.hostname and not process_alive(row.pid)

    def take_over(self) -> list[str]:
        """Delete the rows of the owners that are gone; the ids whose row this call deleted."""
        now = utcnow()
        rows = self.db.read(lambda s: list(s.scalars(select(TaskRunnerRecord))))
        taken = []
        for row in rows:
            if not self.gone(row, now):
                continue
            with self.db.session() as s:
                stmt = delete(TaskRunnerRecord).where(
                    TaskRunnerRecord.id == row.id, TaskRunnerRecord.expires_at == row.expires_at
                )
                if cast("CursorResult[object]", s.execute(stmt)).rowcount == 1:
                    taken.append(row.id)
        return taken

    def close(self) -> None:
        """Stop the heartbeat and expire this process's row: its unfinished tasks are taken
        over by the next controller that looks (or that starts)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
        if self._id is not None and self._pid == os.getpid():
            try:
                with self.db.session() as s:
                    s.execute(
                        update(TaskRunnerRecord).where(TaskRunnerRecord.id == self._id).values(expires_at=utcnow())
                    )
            except Exception:  # noqa: BLE001 - closing goes on; the row expires by itself
                log.warning("could not expire task owner %s", self._id, exc_info=True)
