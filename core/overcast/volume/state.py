"""Status changes as conditional UPDATEs: only one concurrent request can win a transition."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from overcast.errors import BadRequest


def transition(
    session: Session, model: Any, row_id: str, from_states: Iterable[str], to_state: str, **values: Any
) -> bool:
    """Move ``row_id`` to ``to_state`` if it is in one of ``from_states``; whether it did."""
    stmt = (
        update(model)
        .where(model.id == row_id, model.status.in_(list(from_states)))
        .values(status=to_state, **values)
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", session.execute(stmt)).rowcount == 1


def require_transition(
    session: Session, model: Any, row_id: str, from_states: Iterable[str], to_state: str, what: str, **values: Any
) -> None:
    """:func:`transition`, or Cinder's 400 ``Invalid volume``-style error naming the states."""
    states = list(from_states)
    if transition(session, model, row_id, states, to_state, **values):
        return
    current = session.execute(
        model.__table__.select().with_only_columns(model.status).where(model.id == row_id)
    ).scalar_one_or_none()
    allowed = " or ".join(states)
    raise BadRequest(
        f"Invalid {what}: status must be {allowed} to go to {to_state}, but the current status is {current}."
    )
