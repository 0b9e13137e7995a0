"""Events of instance actions, as Nova's ``wrap_instance_event`` records them: each step a
service takes for an action is an event named after it (``compute_`` + the Nova compute
manager's function: ``compute_stop_instance``, ``compute__do_build_and_run_instance``...;
``api_`` for the steps Nova's API takes itself, e.g. ``api_lock``), started when the step
starts and finished with ``Success``, or ``Error`` with the traceback when it raised. Each
start and finish moves the action's ``updated_at``; an ``Error`` sets its ``message`` to
``Error``, as Nova does.

A step finds its action by the request that started it when it knows it (``request_id``),
else as the newest action of the server among ``actions`` (the names of the actions the step
belongs to): the task of a gated action runs while the server's ``task_state`` is held, so
no second action of that server with the same name starts before it ends. A step whose
action is gone (the server was deleted meanwhile) records nothing.
"""

from __future__ import annotations

import functools
import logging
import socket
import traceback
import uuid as uuidlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import DateTime, String, Table, bindparam, select
from sqlalchemy.sql.dml import ReturningInsert

from overcast.context import RequestContext
from overcast.db.group import GroupCommit
from overcast.db.models.base import utcnow
from overcast.db.models.compute import InstanceAction, InstanceActionEvent
from overcast.errors import OvercastError

log = logging.getLogger(__name__)

#: the host of the steps the API takes itself (Nova's API ``CONF.host``)
API_HOST = socket.gethostname()

_A = cast(Table, InstanceAction.__table__)
_E = cast(Table, InstanceActionEvent.__table__)

# statements built once (building an expression on each event cost more than running it)
_TOUCH_ACTION = _A.update().where(_A.c.id == bindparam("action_key")).values(updated_at=bindparam("at"))
#: SET from the parameters' column names (``finish_time``, ``result``...), the row by ``event_key``
#: (a bind name that is no column's: those are the SET's)
_FINISH_EVENT = _E.update().where(_E.c.id == bindparam("event_key"))
_FINISH_ACTION = _A.update().where(
    _A.c.id == select(_E.c.action_id).where(_E.c.id == bindparam("event_key")).scalar_subquery()
)


@functools.cache
def _start_event(by_request: bool, by_name: bool) -> ReturningInsert[Any, Any]:
    """One statement: event ``:event_name`` (started ``:at`` on ``:event_host``) inserted into
    the newest action of server ``:uuid`` (of request ``:request_id``, named one of
    ``:names``); it returns the event's and the action's ids, or no row without an action."""
    action = select(
        _A.c.id,
        bindparam("event_name", type_=String()),
        bindparam("at", type_=DateTime()),
        bindparam("event_host", type_=String()),
    ).where(_A.c.instance_uuid == bindparam("uuid"))
    if by_request:
        action = action.where(_A.c.request_id == bindparam("request_id"))
    if by_name:
        action = action.where(_A.c.action.in_(bindparam("names", expanding=True)))
    action = action.order_by(_A.c.id.desc()).limit(1)
    insert = _E.insert().from_select(["action_id", "event", "start_time", "host"], action)
    return insert.returning(_E.c.id, _E.c.action_id)


SUCCESS = "Success"
ERROR = "Error"


def compute_event(function: str) -> str:
    """Nova's name of the event of a compute manager function."""
    return f"compute_{function}"


class Step:
    """The step an event is recorded around: ``failed(exc)`` records it as an ``Error``."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def failed(self, exc: BaseException) -> None:
        self.error = exc


class ActionEvents:
    """Recording of events; each start and finish is one job of ``writes`` (concurrent
    tasks' events share a transaction), in plain statements, or a part of the caller's own
    transaction (``start_in``, ``finish_in``)."""

    def __init__(self, db: Any, writes: GroupCommit | None = None) -> None:
        self.db = db
        self.writes = writes if writes is not None else GroupCommit(db)

    def start(
        self, uuid: str, name: str, host: str | None, *, request_id: str | None = None, actions: Iterable[str] = ()
    ) -> int | None:
        """Record the start of event ``name``; its id, or ``None`` if its action is not found."""
        now = utcnow()
        names = tuple(actions)
        event_id = self.writes.run(
            lambda s: self.start_in(s, uuid, name, host, request_id=request_id, actions=names, now=now)
        )
        if event_id is None:
            log.debug("server %s: no action for event %s (request %s)", uuid, name, request_id)
        return event_id

    def start_in(
        self,
        s: Any,
        uuid: str,
        name: str,
        host: str | None,
        *,
        request_id: str | None = None,
        actions: Iterable[str] = (),
        now: datetime | None = None,
    ) -> int | None:
        """:meth:`start`'s write in the caller's transaction ``s`` (a task's own state change
        and its event's start commit together); the event's id, or ``None``."""
        now = now or utcnow()
        names = tuple(actions)
        params: dict[str, Any] = {"uuid": uuid}
        if request_id:
            params["request_id"] = request_id
        if names:
            params["names"] = list(names)
        params.update(event_name=name, at=now, event_host=host)
        row = s.execute(_start_event(bool(request_id), bool(names)), params).first()
        if row is None:
            return None
        s.execute(_TOUCH_ACTION, {"action_key": row.action_id, "at": now})
        return int(row.id)

    def finish(self, event_id: int | None, exc: BaseException | None = None) -> None:
        """Record the end of an event: ``Success``, or ``Error`` with ``exc``'s traceback."""
        if event_id is None:
            return
        now = utcnow()
        self.writes.run(lambda s: self.finish_in(s, event_id, exc, now=now))

    def finish_in(
        self, s: Any, event_id: int | None, exc: BaseException | None = None, *, now: datetime | None = None
    ) -> None:
        """:meth:`finish`'s write in the caller's transaction ``s``."""
        if event_id is None:
            return
        now = now or utcnow()
        values: dict[str, Any] = {"finish_time": now, "result": SUCCESS}
        action_values: dict[str, Any] = {"updated_at": now}
        if exc is not None:
            values["result"] = ERROR
            values["traceback"] = "".join(traceback.format_exception(exc))
            values["details"] = exc.message if isinstance(exc, OvercastError) else str(exc) or type(exc).__name__
            action_values["message"] = ERROR
        s.execute(_FINISH_EVENT, {"event_key": event_id, **values})
        s.execute(_FINISH_ACTION, {"event_key": event_id, **action_values})

    @contextmanager
    def event(
        self, uuid: str, name: str, host: str | None, *, request_id: str | None = None, actions: Iterable[str] = ()
    ) -> Iterator[Step]:
        """Record event ``name`` around a step (Nova's ``EventReporter``): an exception that
        passes through is recorded as its error; a step that handles its own failure (a task
        that records a fault instead of raising) tells it with :meth:`Step.failed`."""
        step = Step()
        event_id = self.start(uuid, name, host, request_id=request_id, actions=actions)
        try:
            yield step
        except BaseException as exc:
            self.finish(event_id, exc)
            raise
        self.finish(event_id, step.error)

    def record_action(self, uuid: str, action: str, ctx: RequestContext, project_id: str) -> str:
        """Record an action that no state gate records (as Nova's ``action_start``); its
        request id (a new one when ``ctx`` has none)."""
        request_id = ctx.request_id or f"req-{uuidlib.uuid4()}"
        with self.db.session() as s:
            s.add(
                InstanceAction(
                    instance_uuid=uuid,
                    action=action,
                    request_id=request_id,
                    user_id=ctx.user_id,
                    project_id=project_id,
                )
            )
        return request_id

    def for_actions(self, s: Any, action_ids: list[int]) -> dict[int, list[InstanceActionEvent]]:
        """The events of each action, newest first (Nova's order)."""
        out: dict[int, list[InstanceActionEvent]] = {i: [] for i in action_ids}
        if not action_ids:
            return out
        stmt = (
            select(InstanceActionEvent)
            .where(InstanceActionEvent.action_id.in_(action_ids))
            .order_by(InstanceActionEvent.start_time.desc(), InstanceActionEvent.id.desc())
        )
        for event in s.scalars(stmt):
            out[event.action_id].append(event)
        return out
