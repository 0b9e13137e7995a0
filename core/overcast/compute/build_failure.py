"""The outcome of a failed build: its fault, ERROR, and its host's claim given back, once.

The claim given back is the one the row's ``host`` names, which the claim's own transaction
set and this one clears: a write run again after a commit whose answer was lost finds no host
and gives nothing back a second time, and a claim whose own commit's answer was lost (the
build never learnt its host) is given back too.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from sqlalchemy.orm import Session

from overcast.compute import states as st
from overcast.compute.outcomes import Failure, Outcome, Outcomes, fail_in
from overcast.compute.transitions import Transitions
from overcast.db.models.compute import InstanceRecord

log = logging.getLogger(__name__)


def record_build_failure(outcomes: Outcomes, uuid: str, exc: BaseException, delete: Callable[[str], Any]) -> None:
    """Write the failed build's outcome (:func:`end_failed_build`); a server deleted meanwhile
    is deleted now (``delete(uuid)``)."""
    log.warning("server %s: %s", uuid, str(exc) or type(exc).__name__)
    ended = outcomes.write(
        lambda s, out: end_failed_build(s, out, outcomes.t, uuid, exc), f"the fault of server {uuid}"
    )
    if ended is None or ended.moved is None:  # deleted, or its build ended already (a restart's reconciliation)
        return
    if ended.moved[2]["task_state"] == st.DELETING:
        delete(uuid)


def end_failed_build(s: Session, out: Outcome, t: Transitions, uuid: str, exc: BaseException) -> None:
    """:func:`record_build_failure`'s write in session ``s``, unless the server is gone or no
    longer building."""

    def failure(rec: InstanceRecord) -> Failure | None:
        if rec.vm_state != st.BUILDING:
            return None
        values = {
            "vm_state": st.ERROR,
            "task_state": st.DELETING if rec.task_state == st.DELETING else None,
            "host": None,
            "power_state": "nostate",
        }
        return rec.task_state, {"vm_state": st.BUILDING, "deleted": False}, values

    fail_in(s, out, t, uuid, exc, "failed build", failure)
