"""State changes of a server, each one atomic in SQL, with faults and events.

``begin`` is the gate every action passes: one conditional UPDATE that sets the task state
only if the server is in an allowed vm_state with no task running, so two concurrent actions
cannot both start (the loser gets 409, as in Nova).
"""

from __future__ import annotations

import functools
import logging
import traceback
from typing import Any, Callable, Literal, cast

from sqlalchemy import Table, Update, bindparam, update

from overcast.compute.owners import TaskOwners
from overcast.compute.records import get_instance
from overcast.compute.states import status_of
from overcast.context import RequestContext
from overcast.db.group import GroupCommit
from overcast.db.models.base import utcnow
from overcast.db.models.compute import InstanceAction, InstanceFault, InstanceRecord
from overcast.errors import Conflict, OvercastError

log = logging.getLogger(__name__)

_TABLE = cast(Table, InstanceRecord.__table__)
#: attribute name -> column name of the server's row (``metadata_`` is ``metadata``)
_COLUMNS = {a.key: a.columns[0].key for a in InstanceRecord.__mapper__.column_attrs}


@functools.cache
def _conditional_update(task: Literal["none", "given", "any"], expected: tuple[tuple[str, bool], ...]) -> Update:
    """The UPDATE of server ``:uuid_key`` whose task state is none, ``:task_key`` or anything
    (``task``) and whose ``expected`` attributes have the values ``:expect_<column>`` (or, where
    the flag beside the attribute is set, none); its SET comes from the parameters named after
    columns. Built once per shape: building the expression on every state change cost more
    than running it."""
    c = _TABLE.c
    cond = [c.uuid == bindparam("uuid_key")]
    if task == "none":
        cond.append(c.task_state.is_(None))
    elif task == "given":
        cond.append(c.task_state == bindparam("task_key"))
    cond += [
        c[_COLUMNS[k]].is_(None) if none else c[_COLUMNS[k]] == bindparam(f"expect_{_COLUMNS[k]}")
        for k, none in expected
    ]
    return _TABLE.update().where(*cond)


def _write_if(
    s: Any, uuid: str, values: dict[str, Any], expect: dict[str, Any], task: str | None, any_task: bool = False
) -> dict[str, Any] | None:
    """Write ``values`` (and ``updated_at``) to server ``uuid`` in session ``s`` if its task
    state is ``task`` (``None``: none; whatever it is with ``any_task``) and every attribute in
    ``expect`` has its value (``None``: none): the values written, or ``None`` if nothing was."""
    values = {**values, "updated_at": utcnow()}
    params = {_COLUMNS[k]: v for k, v in values.items()}
    params.update({f"expect_{_COLUMNS[k]}": v for k, v in expect.items() if v is not None}, uuid_key=uuid)
    if task is not None:
        params["task_key"] = task
    rule: Literal["none", "given", "any"] = "any" if any_task else "none" if task is None else "given"
    stmt = _conditional_update(rule, tuple((k, v is None) for k, v in expect.items()))
    return values if s.execute(stmt, params).rowcount == 1 else None


def fault_record(uuid: str, exc: BaseException) -> InstanceFault:
    """The fault row saying why something failed on server ``uuid`` (Nova's code, message and,
    for an unexpected error, the traceback)."""
    code = exc.status if isinstance(exc, OvercastError) else 500
    message = str(exc) or type(exc).__name__
    details = "" if isinstance(exc, OvercastError) else "".join(traceback.format_exception(exc))[-4000:]
    return InstanceFault(instance_uuid=uuid, code=code, message=message[:255], details=details)


class Transitions:
    def __init__(self, runtime: Any, writes: GroupCommit | None = None, owners: TaskOwners | None = None) -> None:
        self.runtime = runtime
        #: this process as the owner of the tasks whose state :meth:`begin` sets
        self.owners = owners
        self.db = runtime.db
        self.writes = writes if writes is not None else GroupCommit(runtime.db)

    def begin(
        self,
        ctx: RequestContext,
        uuid: str,
        action: str,
        vm_states: tuple[str, ...],
        task_state: str | None,
        within: Callable[[Any, InstanceRecord], None] | None = None,
    ) -> InstanceRecord:
        """Start ``action`` on the caller's server: set ``task_state`` or raise 404/409.
        ``within(session, rec)`` runs in the same transaction once the gate passed (a quota
        claim): if it raises, nothing is changed."""
        owner = self.owners.id if self.owners is not None else None  # its row is written first
        with self.db.session() as s:
            rec = get_instance(s, ctx, uuid)
            if rec.locked and not ctx.is_admin:
                raise Conflict(f"Instance {uuid} is locked")
            c = InstanceRecord.__table__.c
            stmt = (
                update(InstanceRecord)
                .where(c.uuid == uuid, c.deleted.is_(False), c.vm_state.in_(vm_states), c.task_state.is_(None))
                .values(task_state=task_state, task_owner=owner, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if s.execute(stmt).rowcount != 1:
                s.refresh(rec)
                if rec.task_state is not None:
                    raise Conflict(f"Cannot '{action}' instance {uuid} while it is in task_state {rec.task_state}")
                raise Conflict(f"Cannot '{action}' instance {uuid} while it is in vm_state {rec.vm_state}")
            if within is not None:
                within(s, rec)
            s.add(
                InstanceAction(
                    instance_uuid=uuid,
                    action=action,
                    request_id=ctx.request_id,
                    user_id=ctx.user_id,
                    project_id=rec.project_id,
                )
            )
            s.flush()
            s.refresh(rec)
            old = status_of(rec.vm_state, None)
        self.notify(rec, old)
        return rec

    def finish(self, uuid: str, **values: Any) -> InstanceRecord | None:
        """Write ``values`` to the server (usually clearing ``task_state``) and emit events."""
        with self.db.session() as s:
            rec = s.get(InstanceRecord, uuid)
            if rec is None:
                return None
            old = status_of(rec.vm_state, rec.task_state)
            for key, value in values.items():
                setattr(rec, key, value)
            rec.updated_at = utcnow()
            s.flush()
        self.notify(rec, old)
        return rec

    def advance(
        self,
        uuid: str,
        expect_task: str | None,
        expect: dict[str, Any] | None = None,
        seen: InstanceRecord | None = None,
        **values: Any,
    ) -> InstanceRecord | None:
        """Like :meth:`finish`, but only if ``task_state`` is still ``expect_task`` (a delete
        requested meanwhile wins) and every column in ``expect`` still has its value.
        Returns the row, or ``None`` if the state had moved on. ``seen``: the caller's own
        detached copy of the row, read by the task that set ``expect_task`` (while a task
        holds it, nothing else changes the vm_state); it is not read again, and is updated
        and returned. Written as one job of :attr:`writes` (concurrent tasks' state changes
        share a transaction)."""
        moved = self.writes.run(lambda s: self.advance_in(s, uuid, expect_task, expect, seen, values))
        if moved is None:
            return None
        return self.advanced(*moved)

    def advanced(self, rec: InstanceRecord, old: str, values: dict[str, Any]) -> InstanceRecord:
        """After :meth:`advance_in` has committed: the record as written, and its events."""
        # the row is what we read plus what we wrote (the WHERE held): no second SELECT
        for key, value in values.items():
            setattr(rec, key, value)
        self.notify(rec, old)
        return rec

    def advance_in(
        self,
        s: Any,
        uuid: str,
        expect_task: str | None,
        expect: dict[str, Any] | None,
        seen: InstanceRecord | None,
        values: dict[str, Any],
    ) -> tuple[InstanceRecord, str, dict[str, Any]] | None:
        """:meth:`advance`'s write in the caller's session ``s``: the row, its status before
        and the values written, or ``None``. The record is not changed here (a group commit
        may run this twice): the caller passes the result to :meth:`advanced` once committed."""
        rec = seen if seen is not None else s.get(InstanceRecord, uuid)
        if rec is None:
            return None
        old = status_of(rec.vm_state, expect_task if seen is not None else rec.task_state)
        written = _write_if(s, uuid, values, expect or {}, expect_task)
        if written is None:
            return None
        if seen is None:
            s.expunge(rec)
        return rec, old, written

    def set_in(
        self, s: Any, rec: InstanceRecord, values: dict[str, Any], expect: dict[str, Any] | None = None
    ) -> tuple[InstanceRecord, str, dict[str, Any]] | None:
        """:meth:`finish`'s write in the caller's session ``s``, whatever the row's task, for
        the caller's detached ``rec`` (read by the task that holds the server), if every column
        in ``expect`` still has its value (``None``: none): the record, its status before and
        the values written, for :meth:`advanced` once committed; ``None`` if nothing was written."""
        written = _write_if(s, rec.uuid, values, expect or {}, None, any_task=True)
        if written is None:
            return None
        return rec, status_of(rec.vm_state, rec.task_state), written

    def fault(self, uuid: str, exc: BaseException, **values: Any) -> None:
        """Record why something failed, and apply ``values`` (e.g. ``vm_state="error"``)."""
        fault = fault_record(uuid, exc)
        log.warning("server %s: %s", uuid, str(exc) or type(exc).__name__)
        with self.db.session() as s:
            if s.get(InstanceRecord, uuid) is None:
                return
            s.add(fault)
        if values:
            self.finish(uuid, **values)

    def notify(self, rec: InstanceRecord, old_status: str) -> None:
        new_status = status_of(rec.vm_state, rec.task_state)
        if new_status == old_status:
            return
        try:
            self.runtime.plugins.broadcast(
                "overcast_instance_state_changed",
                instance_uuid=rec.uuid,
                project_id=rec.project_id,
                old_status=old_status,
                new_status=new_status,
            )
        except Exception:  # noqa: BLE001 - listeners must not break state changes
            log.exception("overcast_instance_state_changed listener failed")
        self.runtime.notifier.instance_status_changed(rec, old_status, new_status)
