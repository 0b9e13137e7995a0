"""Floating IPs: an address on an external network, DNAT/SNAT-ed by a router to a port."""

from __future__ import annotations

import ipaddress
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.network import FloatingIpRecord, PortRecord, RouterRecord
from overcast.errors import BadRequest, Conflict, Forbidden, NotFound
from overcast.network import ipam
from overcast.network import validate as v
from overcast.network.db import run_in_transaction
from overcast.network.lookup import get_network, get_owned, list_visible
from overcast.network.networks import owner_project
from overcast.network.routers import interface_subnet_ids
from overcast.network.views import floating_ip_view

FIP_FIELDS = {
    "floating_network_id",
    "floating_ip_address",
    "subnet_id",
    "port_id",
    "fixed_ip_address",
    "description",
    "tenant_id",
    "project_id",
    "qos_policy_id",
    "tags",
}
UPDATABLE = {"port_id", "fixed_ip_address", "description", "qos_policy_id"}
FIP_OWNER = "network:floatingip"


class FloatingIpManager:
    def __init__(self, runtime: Any, service: Any) -> None:
        self.runtime = runtime
        self.service = service

    def _associate(
        self, session: Session, ctx: RequestContext, fip: FloatingIpRecord, port_id: Any, fixed: Any
    ) -> None:
        """Point ``fip`` at ``port_id`` (or nowhere), through a router that joins both networks."""
        if port_id is None:
            fip.fixed_port_id, fip.fixed_ip_address, fip.router_id, fip.status = None, None, None, "DOWN"
            return
        port = get_owned(session, ctx, PortRecord, port_id)
        if port.project_id != fip.project_id and not ctx.is_admin:
            raise NotFound(f"Port {port_id} could not be found.", code="PortNotFound")
        v4 = [a for a in port.fixed_ips if ipaddress.ip_address(a.ip_address).version == 4]
        if fixed is not None:
            chosen = next((a for a in v4 if a.ip_address == fixed), None)
            if chosen is None:
                raise BadRequest(f"Port {port_id} does not have fixed ip {fixed}", code="BadRequest")
        elif len(v4) == 1:
            chosen = v4[0]
        elif not v4:
            raise BadRequest(
                f"Bad floatingip request: Port {port_id} does not have any IPv4 address.", code="BadRequest"
            )
        else:
            raise BadRequest(
                f"Port {port_id} has multiple fixed IPv4 addresses. Must provide a specific IPv4 address "
                "when assigning a floating IP",
                code="BadRequest",
            )
        router_id = None
        for router in session.scalars(select(RouterRecord).where(RouterRecord.gw_port_id.is_not(None))):
            gw = cast(PortRecord, session.get(PortRecord, router.gw_port_id))  # foreign key
            if gw.network_id == fip.floating_network_id and chosen.subnet_id in interface_subnet_ids(
                session, router.id
            ):
                router_id = router.id
                break
        if router_id is None:
            raise NotFound(
                f"External network {fip.floating_network_id} is not reachable from subnet {chosen.subnet_id}. "
                f"Therefore, cannot associate Port {port_id} with a Floating IP.",
                code="ExternalGatewayForFloatingIPNotFound",
            )
        taken = session.scalar(
            select(FloatingIpRecord.id).where(
                FloatingIpRecord.fixed_port_id == port.id,
                FloatingIpRecord.fixed_ip_address == chosen.ip_address,
                FloatingIpRecord.id != fip.id,
            )
        )
        if taken:
            raise Conflict(
                f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port {port_id} using "
                f"fixed IP {chosen.ip_address}, as that fixed IP already has a floating IP on external network "
                f"{fip.floating_network_id}.",
                code="FloatingIPPortAlreadyAssociated",
            )
        fip.fixed_port_id, fip.fixed_ip_address, fip.router_id, fip.status = (
            port.id,
            chosen.ip_address,
            router_id,
            "ACTIVE",
        )

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "floatingip")
        v.only(values, FIP_FIELDS)
        if values.get("floating_ip_address") and not ctx.is_admin:
            raise Forbidden(
                "(rule:create_floatingip:floating_ip_address) is disallowed by policy", code="PolicyNotAuthorized"
            )
        project_id = owner_project(ctx, values)
        description = v.string(values, "description", max_len=1024)
        self.service.quotas.prepare(project_id)

        def work(session: Session, attempt: int) -> dict[str, Any]:
            network = get_network(session, ctx, values.get("floating_network_id"))
            if not network.external:
                raise BadRequest(
                    f"Bad floatingip request: Network {network.id} is not a valid external network.", code="BadRequest"
                )
            port = PortRecord(
                project_id="",
                network_id=network.id,
                mac_address=self.service.ports.new_mac(),
                device_owner=FIP_OWNER,
                port_security_enabled=False,
                status="N/A",
                binding_vif_details={},
                binding_profile={},
                allowed_address_pairs=[],
            )
            requested = None
            if values.get("floating_ip_address") or values.get("subnet_id"):
                entry = {k: values[k] for k in ("subnet_id",) if values.get(k)}
                if values.get("floating_ip_address"):
                    entry["ip_address"] = values["floating_ip_address"]
                requested = [entry]
            v4_only = [s for s in network.subnets if s.ip_version == 4]
            if requested is None:
                for sub in v4_only:
                    ip = ipam.pick_free_address(session, sub, spread=1 + attempt)
                    if ip is not None:
                        requested = [{"subnet_id": sub.id, "ip_address": str(ip)}]
                        break
                else:
                    raise ipam.no_more_addresses(network.id)
            self.service.ports.allocate_ips(session, network, port, requested, attempt)
            session.add(port)
            session.flush()
            fip = FloatingIpRecord(
                project_id=project_id,
                description=description,
                floating_network_id=network.id,
                floating_port_id=port.id,
                floating_ip_address=port.fixed_ips[0].ip_address,
            )
            session.add(fip)
            session.flush()
            port.device_id = fip.id
            self._associate(session, ctx, fip, values.get("port_id"), values.get("fixed_ip_address"))
            self.service.quotas.check(session, project_id, "floatingip")
            return floating_ip_view(fip)

        view = run_in_transaction(self.runtime.db, work)
        if view["router_id"]:
            self.service.plumbing.sync_router(view["router_id"])
        return view

    def get(self, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            return floating_ip_view(get_owned(s, ctx, FloatingIpRecord, fip_id))

    def list(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            return [floating_ip_view(f) for f in list_visible(s, ctx, FloatingIpRecord)]

    def update(self, ctx: RequestContext, fip_id: str, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "floatingip")
        v.only(values, UPDATABLE)

        def work(session: Session, attempt: int) -> tuple[dict[str, Any], str | None]:
            fip = get_owned(session, ctx, FloatingIpRecord, fip_id)
            old_router = fip.router_id
            if "description" in values:
                fip.description = v.string(values, "description", max_len=1024)
            if "port_id" in values:
                self._associate(session, ctx, fip, values["port_id"], values.get("fixed_ip_address"))
            elif "fixed_ip_address" in values and fip.fixed_port_id:
                self._associate(session, ctx, fip, fip.fixed_port_id, values["fixed_ip_address"])
            fip.revision_number += 1
            session.flush()
            return floating_ip_view(fip), old_router

        view, old_router = run_in_transaction(self.runtime.db, work)
        for router_id in {old_router, view["router_id"]} - {None}:
            self.service.plumbing.sync_router(router_id)
        return view

    def delete(self, ctx: RequestContext, fip_id: str) -> None:
        with self.runtime.db.session() as s:
            fip = get_owned(s, ctx, FloatingIpRecord, fip_id)
            router_id = fip.router_id
            port = s.get(PortRecord, fip.floating_port_id)
            s.delete(fip)
            s.flush()
            if port is not None:
                s.delete(port)
        if router_id:
            self.service.plumbing.sync_router(router_id)
