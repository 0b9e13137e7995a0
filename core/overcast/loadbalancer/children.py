"""What every child object of a load balancer (listener, pool, member, health monitor, L7 policy
and rule) shares: one transaction per change that locks its load balancer, marks the object
``PENDING_*`` and hands the load balancer to the provisioner, which makes the data plane match
and settles every status (``provisioning.Provisioner.sync``); and reads, lists and deletes by kind.
Each kind's own rules live in its module (``listeners``, ``pools``, ``members``, ``monitors``, ``l7``)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
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
from overcast.errors import BadRequest, Conflict, NotFound
from overcast.loadbalancer import constants as c
from overcast.loadbalancer import views
from overcast.loadbalancer.errors import invalid_subresource
from overcast.loadbalancer.store import MODELS, check_not_deleting, get_visible, list_visible, lock_loadbalancer

#: children in the order a cascade deletes them
CHILD_MODELS = (L7RuleRecord, L7PolicyRecord, HealthMonitorRecord, MemberRecord, ListenerRecord, PoolRecord)

RENDER: dict[str, Callable[[Session, Any], dict[str, Any]]] = {
    "loadbalancer": views.loadbalancer_view,
    "listener": views.listener_view,
    "pool": views.pool_view,
    "member": views.member_view,
    "healthmonitor": views.healthmonitor_view,
    "l7policy": views.l7policy_view,
    "l7rule": views.l7rule_view,
}

#: what a change's work returns: the object's kind and id, and its load balancer's id
Changed = tuple[str, str, Any]


class TopLevelEditor(Protocol):
    """What the API needs of a top-level collection's editor (listeners, pools, health
    monitors, L7 policies)."""

    def create(self, ctx: RequestContext, body: Any, /) -> dict[str, Any]: ...

    def update(self, ctx: RequestContext, object_id: str, body: Any, /) -> dict[str, Any]: ...


class Editor:
    """The base of each kind's editor; ``svc`` is the ``LoadBalancerService``."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime

    @property
    def provider(self) -> str:
        return str(self.svc.provider)

    def _commit(
        self, ctx: RequestContext, work: Callable[[Session], Changed], duplicate: Conflict | None = None
    ) -> dict[str, Any]:
        """Run ``work`` (returns kind, id and the load balancer id) in one transaction, then
        hand the load balancer to the provisioner and answer the object's view."""
        try:
            with self.runtime.db.session() as s:
                kind, object_id, lb_id = work(s)
                s.flush()
                view = render(s, kind, s.get(MODELS[kind], object_id))
        except IntegrityError:
            if duplicate is None:
                raise
            raise duplicate from None
        self.svc.provisioner.submit(lb_id)
        return view

    def _show(self, ctx: RequestContext, kind: str, object_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            return render(s, kind, get_visible(s, ctx, kind, object_id))

    def _list(self, ctx: RequestContext, kind: str, **where: Any) -> builtins.list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            return [render(s, kind, rec) for rec in list_visible(s, ctx, kind, **where)]

    def _delete(self, ctx: RequestContext, kind: str, object_id: str) -> None:
        def work(s: Session) -> Changed:
            rec = get_visible(s, ctx, kind, object_id)
            check_not_deleting(kind, rec)
            if kind == "pool":
                user = s.scalar(select(L7PolicyRecord.id).where(L7PolicyRecord.redirect_pool_id == rec.id))
                if user is not None:
                    raise Conflict(f"Pool {rec.id} is in use by L7 policy {user}.", code="PoolInUse")
            self._mark(s, rec, c.PENDING_DELETE)
            return kind, rec.id, rec.loadbalancer_id

        with self.runtime.db.session() as s:
            _, _, lb_id = work(s)
        self.svc.provisioner.submit(lb_id)

    @staticmethod
    def _pool_of(s: Session, ctx: RequestContext, pool_id: str) -> PoolRecord:
        pool: PoolRecord = get_visible(s, ctx, "pool", pool_id)
        return pool

    @staticmethod
    def _lb(s: Session, ctx: RequestContext, lb_id: Any) -> LoadBalancerRecord:
        try:
            lb: LoadBalancerRecord = get_visible(s, ctx, "loadbalancer", lb_id)
        except NotFound:
            raise invalid_subresource("Load Balancer", lb_id) from None
        return lb

    @staticmethod
    def _mark(s: Session, rec: Any, status: str) -> None:
        lock_loadbalancer(s, rec.loadbalancer_id)
        rec.provisioning_status = status


class Children(Editor):
    """Show, list and delete any kind by id (``/lbaas/<collection>/{id}``)."""

    def get(self, ctx: RequestContext, kind: str, object_id: str) -> dict[str, Any]:
        return self._show(ctx, kind, object_id)

    def list(self, ctx: RequestContext, kind: str, **where: Any) -> builtins.list[dict[str, Any]]:
        return self._list(ctx, kind, **where)

    def delete(self, ctx: RequestContext, kind: str, object_id: str) -> None:
        self._delete(ctx, kind, object_id)


def render(session: Session, kind: str, rec: Any) -> dict[str, Any]:
    return RENDER[kind](session, rec)


def parent_lb(s: Session, lb_id: str) -> LoadBalancerRecord:
    return s.get_one(LoadBalancerRecord, lb_id)


def apply_common(rec: Any, values: dict[str, Any]) -> None:
    """An update's fields every object with them shares: ``name`` and ``description`` (null
    is empty), ``admin_state_up`` (null leaves it) and ``tags`` (null is none)."""
    for key in ("name", "description"):
        if key in values:
            setattr(rec, key, values[key] or "")
    if values.get("admin_state_up") is not None:
        rec.admin_state_up = values["admin_state_up"]
    if "tags" in values:
        rec.tags = values["tags"] or []


def or_default(value: Any, default: Any) -> Any:
    return default if value is None else value


def check_listener_pool(listener_protocol: str, pool_protocol: str) -> None:
    if pool_protocol not in c.LISTENER_POOL_PROTOCOLS.get(listener_protocol, ()):
        raise BadRequest(
            f"The listener protocol {listener_protocol} and pool protocol {pool_protocol} are not compatible.",
            code="ListenerPoolProtocolMismatch",
        )
