"""Pool members: create, show, update, delete and list under a pool, each address checked
for a route from the VIP's network."""

from __future__ import annotations

import builtins
import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.loadbalancer import LoadBalancerRecord, MemberRecord
from overcast.errors import Conflict, NotFound
from overcast.loadbalancer import constants as c
from overcast.loadbalancer.children import Changed, Editor, or_default, parent_lb, render
from overcast.loadbalancer.errors import invalid_subresource, not_found, unsupported_option, validation
from overcast.loadbalancer.fields import parse, unwrap
from overcast.loadbalancer.specs import MEMBER, MEMBER_UPDATABLE, take_owner, updates
from overcast.loadbalancer.store import check_not_deleting, get_visible, lock_loadbalancer


class Members(Editor):
    """``/lbaas/pools/{pool_id}/members``."""

    def _check_route(
        self, s: Session, lb: LoadBalancerRecord, address: str, subnet_id: str | None, ctx: RequestContext
    ) -> None:
        """The data plane reaches members from the VIP's network: directly on one of its
        subnets, or through the VIP subnet's router. Anything else has no route."""
        network = self.runtime.network
        ip = ipaddress.ip_address(address)
        if subnet_id is not None:
            try:
                subnet = network.subnets.get(ctx, subnet_id)
            except NotFound:
                raise invalid_subresource("Subnet", subnet_id) from None
            if ip not in ipaddress.ip_network(subnet["cidr"]):
                raise validation(f"Member address {address} is not in subnet {subnet_id} ({subnet['cidr']}).")
        vip_net = network.networks.get(ctx, lb.vip_network_id) if lb.vip_network_id else None
        vip_subnets = [network.subnets.get(ctx, sid) for sid in (vip_net or {}).get("subnets", [])]
        if any(ip in ipaddress.ip_network(sub["cidr"]) for sub in vip_subnets):
            if subnet_id is None or subnet_id in {sub["id"] for sub in vip_subnets}:
                return
        routed = network.routed_subnets(lb.vip_subnet_id) if lb.vip_subnet_id else set()
        vip_gateway = next((sub.get("gateway_ip") for sub in vip_subnets if sub["id"] == lb.vip_subnet_id), None)
        if subnet_id is not None:
            if subnet_id in routed and vip_gateway:
                return
            raise validation(
                f"Member subnet {subnet_id} is not reachable from load balancer {lb.id}: no router connects it "
                f"to the VIP subnet {lb.vip_subnet_id}."
            )
        reachable = [network.subnets.get(ctx, sid) for sid in routed] if vip_gateway else []
        if any(ip in ipaddress.ip_network(sub["cidr"]) for sub in reachable):
            return
        raise validation(
            f"Member address {address} is not reachable from load balancer {lb.id}: it is on none of the VIP "
            "network's subnets nor on a subnet routed to the VIP subnet."
        )

    def create(self, ctx: RequestContext, pool_id: str, body: Any) -> dict[str, Any]:
        values = parse("member", unwrap(body, "member"), MEMBER, required=("address", "protocol_port"))
        if values.get("request_sriov"):
            raise unsupported_option(self.provider, "request_sriov is not served.")
        dup = Conflict(
            f"Another member on this pool is already using ip {values['address']} on protocol_port {values['protocol_port']}",
            code="DuplicateMemberEntry",
        )

        def work(s: Session) -> Changed:
            pool = self._pool_of(s, ctx, pool_id)
            check_not_deleting("pool", pool)
            take_owner(values, pool.project_id)
            lb = parent_lb(s, pool.loadbalancer_id)
            self._check_route(s, lb, values["address"], values.get("subnet_id"), ctx)
            if values.get("monitor_address"):
                self._check_route(s, lb, values["monitor_address"], None, ctx)
            taken = s.scalar(
                select(MemberRecord.id).where(
                    MemberRecord.pool_id == pool.id,
                    MemberRecord.address == values["address"],
                    MemberRecord.protocol_port == values["protocol_port"],
                )
            )
            if taken is not None:
                raise dup
            lock_loadbalancer(s, pool.loadbalancer_id)
            rec = MemberRecord(
                project_id=pool.project_id,
                loadbalancer_id=pool.loadbalancer_id,
                pool_id=pool.id,
                name=values.get("name") or "",
                admin_state_up=values.get("admin_state_up", True),
                tags=values.get("tags") or [],
                address=str(ipaddress.ip_address(values["address"])),
                protocol_port=values["protocol_port"],
                weight=or_default(values.get("weight"), 1),
                backup=bool(values.get("backup")),
                subnet_id=values.get("subnet_id"),
                monitor_address=values.get("monitor_address"),
                monitor_port=values.get("monitor_port"),
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.NO_MONITOR,
            )
            s.add(rec)
            self.svc.quotas.check(s, pool.project_id, "member")
            return "member", rec.id, pool.loadbalancer_id

        return self._commit(ctx, work, dup)

    def get(self, ctx: RequestContext, pool_id: str, member_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            self._pool_of(s, ctx, pool_id)
            rec = get_visible(s, ctx, "member", member_id)
            if rec.pool_id != pool_id:
                raise not_found("member", member_id)
            return render(s, "member", rec)

    def update(self, ctx: RequestContext, pool_id: str, member_id: str, body: Any) -> dict[str, Any]:
        values = updates("member", body, MEMBER, MEMBER_UPDATABLE)

        def work(s: Session) -> Changed:
            self._pool_of(s, ctx, pool_id)
            rec: MemberRecord = get_visible(s, ctx, "member", member_id)
            if rec.pool_id != pool_id:
                raise not_found("member", member_id)
            check_not_deleting("member", rec)
            if values.get("monitor_address"):
                lb = parent_lb(s, rec.loadbalancer_id)
                self._check_route(s, lb, values["monitor_address"], None, ctx)
            self._mark(s, rec, c.PENDING_UPDATE)
            for key, value in values.items():
                if key == "weight":
                    value = or_default(value, 1)
                elif key in ("name",):
                    value = value or ""
                elif key == "tags":
                    value = value or []
                elif key in ("admin_state_up", "backup") and value is None:
                    continue
                setattr(rec, key, value)
            return "member", rec.id, rec.loadbalancer_id

        return self._commit(ctx, work)

    def delete(self, ctx: RequestContext, pool_id: str, member_id: str) -> None:
        with self.runtime.db.session() as s:
            self._pool_of(s, ctx, pool_id)
            rec = get_visible(s, ctx, "member", member_id)
            if rec.pool_id != pool_id:
                raise not_found("member", member_id)
        self._delete(ctx, "member", member_id)

    def list(self, ctx: RequestContext, pool_id: str) -> builtins.list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            self._pool_of(s, ctx, pool_id)
        return self._list(ctx, "member", pool_id=pool_id)
