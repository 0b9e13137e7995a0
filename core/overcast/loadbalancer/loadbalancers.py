"""Load balancers: create (VIP from the network service, row ``PENDING_CREATE``), update,
delete (``cascade`` or childless), the status tree and the counters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.loadbalancer import (
    HealthMonitorRecord,
    L7PolicyRecord,
    ListenerRecord,
    LoadBalancerRecord,
    MemberRecord,
    PoolRecord,
)
from overcast.db.models.base import new_id
from overcast.errors import BadRequest, ServiceUnavailable
from overcast.loadbalancer import constants as c
from overcast.loadbalancer.errors import (
    invalid,
    invalid_subresource,
    unsupported_action,
    unsupported_option,
    validation,
)
from overcast.loadbalancer.fields import COMMON, OWNER, UUID, Spec, parse, unwrap
from overcast.loadbalancer.children import CHILD_MODELS, RENDER, apply_common
from overcast.loadbalancer.store import get_visible, lock_loadbalancer

LOADBALANCER = {
    **COMMON,
    **OWNER,
    "vip_address": Spec("ip"),
    "vip_port_id": UUID,
    "vip_subnet_id": UUID,
    "vip_network_id": UUID,
    "vip_qos_policy_id": UUID,
    "vip_sg_ids": Spec("list"),
    "vip_vnic_type": Spec("str"),
    "additional_vips": Spec("list"),
    "provider": Spec("str", max_length=64),
    "flavor_id": UUID,
    "availability_zone": Spec("str"),
    "listeners": Spec("list"),
    "pools": Spec("list"),
}
UPDATABLE = {"name", "description", "admin_state_up", "tags", "vip_qos_policy_id", "vip_sg_ids"}


class LoadBalancers:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = parse("loadbalancer", unwrap(body, "loadbalancer"), LOADBALANCER)
        provider = self.svc.provider
        if provider is None:
            raise ServiceUnavailable("No load-balancer driver is configured (the [loadbalancer] table).")
        asked = values.get("provider")
        if asked is not None and asked != provider:
            raise BadRequest(f"Provider '{asked}' is not enabled.", code="ProviderNotEnabled")
        if values.get("flavor_id"):
            raise invalid_subresource("Flavor", values["flavor_id"])
        if values.get("availability_zone"):
            raise invalid_subresource("Availability Zone", values["availability_zone"])
        for unsupported in ("vip_qos_policy_id", "vip_sg_ids", "additional_vips", "listeners", "pools"):
            if values.get(unsupported):
                raise unsupported_option(provider, f"{unsupported} is not served.")
        if values.get("vip_vnic_type") not in (None, "normal"):
            raise unsupported_option(provider, f"vip_vnic_type {values['vip_vnic_type']} is not served.")
        project = str(values.get("project_id") or values.get("tenant_id") or ctx.project_id or "")
        if project != ctx.project_id and not ctx.is_admin:
            raise validation("project_id must be the caller's project.")
        chosen = self.svc.vip.resolve(ctx, values)
        lb_id = new_id()
        # quota first (no port made for a refused request), then the port, then the row
        with self.runtime.db.session() as s:
            s.add(_row(lb_id, project, values, chosen, provider))
            self.svc.quotas.check(s, project, "loadbalancer")
            s.rollback()
        port_id, address, group_id = self.svc.vip.allocate(ctx, lb_id, chosen)
        try:
            with self.runtime.db.session() as s:
                rec = _row(lb_id, project, values, chosen, provider)
                rec.vip_port_id, rec.vip_address, rec.vip_sg_id = port_id, address, group_id
                s.add(rec)
                self.svc.quotas.check(s, project, "loadbalancer")
                s.flush()
                view = RENDER["loadbalancer"](s, rec)
        except Exception:
            self.svc.vip.release(port_id, group_id)
            raise
        self.svc.provisioner.submit(lb_id)
        return view

    def update(self, ctx: RequestContext, lb_id: str, body: Any) -> dict[str, Any]:
        values = unwrap(body, "loadbalancer")
        fixed = sorted(set(values) & set(LOADBALANCER) - UPDATABLE)
        if fixed:
            raise invalid("loadbalancer", values, f"Unknown attribute for argument loadbalancer: {', '.join(fixed)}")
        values = parse("loadbalancer", values, {k: LOADBALANCER[k] for k in UPDATABLE})
        for unsupported in ("vip_qos_policy_id", "vip_sg_ids"):
            if values.get(unsupported):
                raise unsupported_option(self.svc.provider or "", f"{unsupported} is not served.")
        with self.runtime.db.session() as s:
            rec = get_visible(s, ctx, "loadbalancer", lb_id)
            lock_loadbalancer(s, rec.id)
            s.refresh(rec)
            apply_common(rec, values)
            s.flush()
            view = RENDER["loadbalancer"](s, rec)
        self.svc.provisioner.submit(lb_id)
        return view

    def delete(self, ctx: RequestContext, lb_id: str, cascade: bool = False) -> None:
        with self.runtime.db.session() as s:
            rec = get_visible(s, ctx, "loadbalancer", lb_id)
            has_children = any(
                s.scalar(select(model.id).where(model.loadbalancer_id == rec.id).limit(1)) is not None
                for model in (ListenerRecord, PoolRecord)
            )
            if has_children and not cascade:
                raise validation(f"Cannot delete Load Balancer {lb_id} - it has children")
            lock_loadbalancer(s, rec.id, c.PENDING_DELETE)
            for model in CHILD_MODELS:
                for child in s.scalars(select(model).where(model.loadbalancer_id == rec.id)):
                    child.provisioning_status = c.PENDING_DELETE
        self.svc.provisioner.submit(lb_id)

    def failover(self, ctx: RequestContext, lb_id: str) -> None:
        with self.runtime.db.session() as s:
            get_visible(s, ctx, "loadbalancer", lb_id)
        raise unsupported_action(
            self.svc.provider or "", "failover: the data plane is a process on the network host, not an amphora."
        )

    def status_tree(self, ctx: RequestContext, lb_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            lb = get_visible(s, ctx, "loadbalancer", lb_id)
            return {
                "loadbalancer": {
                    **_status(lb),
                    "listeners": [self._listener_tree(s, li) for li in _children(s, ListenerRecord, lb.id)],
                }
            }

    def _listener_tree(self, s: Session, li: ListenerRecord) -> dict[str, Any]:
        pool_ids = {li.default_pool_id} if li.default_pool_id else set()
        pool_ids |= {
            p.redirect_pool_id
            for p in _children(s, L7PolicyRecord, li.loadbalancer_id)
            if p.listener_id == li.id and p.redirect_pool_id
        }
        pool_ids |= set(s.scalars(select(PoolRecord.id).where(PoolRecord.listener_id == li.id)))
        pools = []
        for pool_id in sorted(pool_ids):
            pool = s.get(PoolRecord, pool_id)
            if pool is None:
                continue
            entry = {**_status(pool), "members": []}
            monitor = s.scalar(select(HealthMonitorRecord).where(HealthMonitorRecord.pool_id == pool.id))
            if monitor is not None:
                entry["health_monitor"] = {**_status(monitor), "type": monitor.type}
            for m in s.scalars(
                select(MemberRecord).where(MemberRecord.pool_id == pool.id).order_by(MemberRecord.created_at)
            ):
                entry["members"].append({**_status(m), "address": m.address, "protocol_port": m.protocol_port})
            pools.append(entry)
        return {**_status(li), "pools": pools}

    def stats(self, ctx: RequestContext, lb_id: str) -> dict[str, int]:
        with self.runtime.db.session() as s:
            lb = get_visible(s, ctx, "loadbalancer", lb_id)
            listener_ids = [li.id for li in _children(s, ListenerRecord, lb.id)]
        return _sum([self.svc.health.stats.get(i) for i in listener_ids])

    def listener_stats(self, ctx: RequestContext, listener_id: str) -> dict[str, int]:
        with self.runtime.db.session() as s:
            get_visible(s, ctx, "listener", listener_id)
        return _sum([self.svc.health.stats.get(listener_id)])


def _row(lb_id: str, project: str, values: dict[str, Any], chosen: dict[str, Any], provider: str) -> LoadBalancerRecord:
    return LoadBalancerRecord(
        id=lb_id,
        project_id=project,
        name=values.get("name") or "",
        description=values.get("description") or "",
        admin_state_up=values.get("admin_state_up", True),
        tags=values.get("tags") or [],
        vip_network_id=chosen["network_id"],
        vip_subnet_id=chosen["subnet_id"],
        vip_address=chosen.get("address") or "",
        provider=provider,
        provisioning_status=c.PENDING_CREATE,
        operating_status=c.OFFLINE,
    )


def _children(s: Session, model: Any, lb_id: str) -> list[Any]:
    return list(s.scalars(select(model).where(model.loadbalancer_id == lb_id).order_by(model.created_at)))


def _status(rec: Any) -> dict[str, Any]:
    out = {"id": rec.id, "provisioning_status": rec.provisioning_status, "operating_status": rec.operating_status}
    if hasattr(rec, "name"):
        out["name"] = rec.name
    return out


def _sum(stats: list[Any]) -> dict[str, int]:
    keys = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")
    return {k: sum(getattr(st, k) for st in stats if st is not None) for k in keys}
