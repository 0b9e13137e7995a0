"""Finding objects as one caller may see them (another project's are "not found"), and
Octavia's lock: a change to anything under a load balancer first moves the load balancer
from a settled status to ``PENDING_UPDATE`` with one conditional ``UPDATE``, so two changes
never overlap and a change while one is pending is refused (409, immutable)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.loadbalancer import (
    HealthMonitorRecord,
    L7PolicyRecord,
    L7RuleRecord,
    ListenerRecord,
    LoadBalancerRecord,
    MemberRecord,
    PoolRecord,
)
from overcast.loadbalancer.constants import PENDING, PENDING_DELETE, PENDING_UPDATE
from overcast.loadbalancer.errors import immutable, not_found

MODELS: dict[str, Any] = {
    "loadbalancer": LoadBalancerRecord,
    "listener": ListenerRecord,
    "pool": PoolRecord,
    "member": MemberRecord,
    "healthmonitor": HealthMonitorRecord,
    "l7policy": L7PolicyRecord,
    "l7rule": L7RuleRecord,
}


def get_visible(session: Session, ctx: RequestContext, kind: str, object_id: Any) -> Any:
    rec = session.get(MODELS[kind], object_id) if isinstance(object_id, str) else None
    if rec is None or not ctx.can_see(rec.project_id):
        raise not_found(kind, object_id)
    return rec


def list_visible(session: Session, ctx: RequestContext, kind: str, **where: Any) -> list[Any]:
    model = MODELS[kind]
    stmt = select(model).order_by(model.created_at, model.id)
    for column, value in where.items():
        stmt = stmt.where(getattr(model, column) == value)
    if not ctx.is_admin:
        stmt = stmt.where(model.project_id == ctx.project_id)
    return list(session.scalars(stmt))


def lock_loadbalancer(session: Session, lb_id: str, status: str = PENDING_UPDATE) -> None:
    """Move the load balancer to ``status`` if no change is pending on it; else 409."""
    done = session.execute(
        update(LoadBalancerRecord)
        .where(LoadBalancerRecord.id == lb_id, LoadBalancerRecord.provisioning_status.not_in(PENDING))
        .values(provisioning_status=status)
        .execution_options(synchronize_session="fetch")
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise immutable("loadbalancer", lb_id)


def check_not_deleting(kind: str, rec: Any) -> None:
    """A child that is being deleted (with its parent, too) is not changed any more."""
    if rec.provisioning_status == PENDING_DELETE:
        raise immutable(kind, rec.id)
