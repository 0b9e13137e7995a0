"""The end of a server task that gives back (or moves) a host claim, written exactly once.

A claim is held by what names it: a server's row by its ``host`` (the flavor it shows), a
move's destination by its migration row while that is in flight. A task's outcome (the
server's state change, its migration row's status, the claims that end with them) is one
transaction whose every write is conditional on the state it moves from, so that it is
written once whoever else (a delete, a restart's reconciliation) ends the same thing; it
is written again while the database connection is lost (a restart or failover must not
leave a claim behind, nor a server in a task nobody finishes), and a second run after a
commit whose answer was lost finds nothing to do and gives nothing back twice. What
follows the commit (this process's view of the hosts, the state change's events) is done
once, by :meth:`Outcomes.write`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from overcast.compute.claims import Usage, release
from overcast.compute.records import flavor_snapshot
from overcast.compute.transitions import Transitions, fault_record
from overcast.db import retry_while_lost
from overcast.db.group import GroupCommit
from overcast.db.models.compute import InstanceRecord
from overcast.errors import Conflict

log = logging.getLogger(__name__)

T = TypeVar("T")

#: a server's state change as :meth:`Transitions.advance_in` answers it
Moved = tuple[InstanceRecord, str, dict[str, Any]]


def write_outcome(writes: GroupCommit, job: Callable[[Session], T | None], what: str) -> T | None:
    """``job(session)`` written as one job of ``writes``, again while the database connection
    is lost (:func:`retry_while_lost`); ``job`` writes only conditionally on the state it moves
    from, and answers ``None`` when it finds nothing to do. When it finds so after an attempt
    that got as far as its commit and lost the answer, that attempt's answer: its commit went
    through, and what follows it is still owed, once."""
    unanswered: list[T] = []

    def attempt() -> T | None:
        answers: list[T | None] = []

        def run(s: Session) -> T | None:
            answers.append(job(s))
            return answers[-1]

        try:
            return writes.run(run)
        except OperationalError:
            last = answers[-1] if answers else None
            if last is not None:
                unanswered[:] = [last]
            raise

    answer = retry_while_lost(attempt, what)
    if answer is None and unanswered:
        return unanswered[0]
    return answer


@dataclass
class Outcome:
    """What one outcome transaction wrote: the server's state change (for
    :meth:`Transitions.advanced`), the claims it gave back, and whether it wrote anything else
    (a migration's status, a fault)."""

    moved: Moved | None = None
    released: list[tuple[str, Usage]] = field(default_factory=list)
    wrote: bool = False

    def give_back(self, s: Session, host: str, usage: Usage) -> None:
        """Give ``usage`` back to ``host`` in this outcome's transaction."""
        release(s, host, usage)
        self.released.append((host, usage))

    def __bool__(self) -> bool:
        return self.moved is not None or bool(self.released) or self.wrote


class Outcomes:
    """Writes outcomes and does what follows each commit once."""

    def __init__(self, writes: GroupCommit, scheduler: Any, transitions: Any) -> None:
        self.writes = writes
        self.scheduler = scheduler
        self.t = transitions

    def write(self, job: Callable[[Session, Outcome], None], what: str) -> Outcome | None:
        """``job(session, outcome)`` as one conditional transaction (:func:`write_outcome`):
        it records in ``outcome`` what it wrote; ``None`` if it wrote nothing. Once committed,
        the claims given back leave the scheduler's view and the state change is announced."""

        def run(s: Session) -> Outcome | None:
            out = Outcome()
            job(s, out)
            return out if out else None

        done = write_outcome(self.writes, run, what)
        if done is None:
            return None
        for host, usage in done.released:
            self.scheduler.release(host, usage)
        if done.moved is not None:
            self.t.advanced(*done.moved)
        return done


#: how a failed task's outcome moves a server: the task it is in, what else its row must
#: still hold (besides the host it was read with), and the values written
Failure = tuple[str | None, dict[str, Any], dict[str, Any]]


def fail_in(
    s: Session,
    out: Outcome,
    t: Transitions,
    uuid: str,
    exc: BaseException,
    what: str,
    failure: Callable[[InstanceRecord], Failure | None],
) -> None:
    """In ``out``'s transaction, a failed task's outcome for server ``uuid``: its row moved as
    ``failure(row)`` says (None: the server is no longer in that task, nothing to do), if it
    still names the host it was read with; the fault of ``exc``; that host's claim given back.
    The claim is the one the row names, so a claim whose own commit's answer was lost is given
    back too, and a write run again after a commit whose answer was lost finds the row moved
    and gives nothing back twice. A row that changed between the read and the write is read
    again (where the read does not lock it: SQLite), three times at most."""
    for _ in range(3):
        rec = s.get(InstanceRecord, uuid, with_for_update=True, populate_existing=True)
        moving = failure(rec) if rec is not None and not rec.deleted else None
        if rec is None or moving is None:
            return
        task, expect, values = moving
        host = rec.host
        out.moved = t.advance_in(s, uuid, task, {**expect, "host": host}, None, values)
        if out.moved is None:  # changed between the read and the write
            continue
        s.add(fault_record(uuid, exc))
        if host:
            out.give_back(s, host, Usage.of(flavor_snapshot(rec)))
        return
    raise Conflict(f"Server {uuid} is changing state too fast to record its {what}.")
