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

import logging
import socket
import traceback
import uuid as uuidlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from overcast.context import RequestContext
from overcast.db.models.base import utcnow
from overcast.db.models.compute import InstanceAction, InstanceActionEvent
from overcast.errors import OvercastError

log = logging.getLogger(__name__)

#: the host of the steps the API takes itself (Nova's API ``CONF.host``)
API_HOST = socket.gethostname()

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
    def __init__(self, db: Any) -> None:
        self.db = db

    def _action(self, s: Any, uuid: str, request_id: str | None, actions: Iterable[str]) -> InstanceAction | None:
        stmt = select(InstanceAction).where(InstanceAction.instance_uuid == uuid)
        if request_id:
            stmt = stmt.where(InstanceAction.request_id == request_id)
        names = list(actions)
        if names:
            stmt = stmt.where(InstanceAction.action.in_(names))
        return s.scalars(stmt.order_by(InstanceAction.id.desc()).limit(1)).first()

    def start(
        self, uuid: str, name: str, host: str | None, *, request_id: str | None = None, actions: Iterable[str] = ()
    ) -> int | None:
        """Record the start of event ``name``; its id, or ``None`` if its action is not found."""
        now = utcnow()
        with self.db.session() as s:
            action = self._action(s, uuid, request_id, actions)
            if action is None:
                log.debug("server %s: no action for event %s (request %s)", uuid, name, request_id)
                return None
            event = InstanceActionEvent(action_id=action.id, event=name, start_time=now, host=host)
            s.add(event)
            action.updated_at = now
            s.flush()
            return event.id

    def finish(self, event_id: int | None, exc: BaseException | None = None) -> None:
        """Record the end of an event: ``Success``, or ``Error`` with ``exc``'s traceback."""
        if event_id is None:
            return
        now = utcnow()
        with self.db.session() as s:
            event = s.get(InstanceActionEvent, event_id)
            if event is None:  # the server and its actions were purged meanwhile
                return
            event.finish_time = now
            if exc is None:
                event.result = SUCCESS
            else:
                event.result = ERROR
                event.traceback = "".join(traceback.format_exception(exc))
                event.details = exc.message if isinstance(exc, OvercastError) else str(exc) or type(exc).__name__
            action = s.get(InstanceAction, event.action_id)
            if action is not None:
                action.updated_at = now
                if exc is not None:
                    action.message = ERROR

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
