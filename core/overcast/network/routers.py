"""Routers: interfaces on tenant subnets and an external gateway with SNAT."""

from __future__ import annotations

import ipaddress
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.network import (
    FloatingIpRecord,
    IpAllocationRecord,
    PortRecord,
    RouterRecord,
    SubnetRecord,
)
from overcast.errors import BadRequest, Conflict, NotFound
from overcast.network import validate as v
from overcast.network.db import run_in_transaction
from overcast.network.lookup import get_network, get_owned, get_subnet, list_visible, not_found
from overcast.network.networks import owner_project
from overcast.network.views import router_view

ROUTER_FIELDS = {
    "name",
    "description",
    "admin_state_up",
    "external_gateway_info",
    "distributed",
    "ha",
    "tenant_id",
    "project_id",
    "availability_zone_hints",
    "flavor_id",
    "routes",
    "tags",
    "enable_ndp_proxy",
}
UPDATABLE = {
    "name",
    "description",
    "admin_state_up",
    "external_gateway_info",
    "routes",
    "distributed",
    "ha",
    "enable_ndp_proxy",
}
INTERFACE_OWNER = "network:router_interface"
GATEWAY_OWNER = "network:router_gateway"


def bad_router(message: str) -> BadRequest:
    return BadRequest(f"Bad router request: {message}.", code="BadRequest")


def interface_not_found(router_id: str, key: str, value: Any) -> NotFound:
    return NotFound(f"Router {router_id} does not have an interface with {key} {value}", code="RouterInterfaceNotFound")


def interface_ports(session: Session, router_id: str) -> list[PortRecord]:
    return list(
        session.scalars(
            select(PortRecord).where(PortRecord.device_id == router_id, PortRecord.device_owner == INTERFACE_OWNER)
        )
    )


def interface_subnet_ids(session: Session, router_id: str) -> set[str]:
    return {a.subnet_id for p in interface_ports(session, router_id) for a in p.fixed_ips}


class RouterManager:
    def __init__(self, runtime: Any, service: Any) -> None:
        self.runtime = runtime
        self.service = service

    # --- gateway -----------------------------------------------------------------------

    def _set_gateway(
        self, session: Session, ctx: RequestContext, router: RouterRecord, info: Any, attempt: int
    ) -> None:
        if info is not None and not isinstance(info, dict):
            raise v.invalid("external_gateway_info", info, "must be an object or null")
        info = info or {}
        old = session.get(PortRecord, router.gw_port_id) if router.gw_port_id else None
        new_net = info.get("network_id")
        if "enable_snat" in info:
            router.enable_snat = v.boolean(info, "enable_snat", True)
        if old is not None and new_net == old.network_id and "external_fixed_ips" not in info:
            return
        if old is not None:
            if session.scalar(select(FloatingIpRecord.id).where(FloatingIpRecord.router_id == router.id).limit(1)):
                raise Conflict(
                    f"Gateway cannot be updated for router {router.id}, since a gateway to external network "
                    f"{old.network_id} is required by one or more floating IPs.",
                    code="RouterExternalGatewayInUseByFloatingIp",
                )
            router.gw_port_id = None
            session.flush()
            session.delete(old)
            session.flush()
        if not new_net:
            return
        network = get_network(session, ctx, new_net)
        if not network.external:
            raise bad_router(f"Network {network.id} is not an external network")
        if not network.subnets:
            raise bad_router(f"No subnets on external network {network.id}")
        port = PortRecord(
            project_id="",
            network_id=network.id,
            mac_address=self.service.ports.new_mac(),
            device_id=router.id,
            device_owner=GATEWAY_OWNER,
            port_security_enabled=False,
            binding_vif_details={},
            binding_profile={},
            allowed_address_pairs=[],
            status="ACTIVE",
        )
        requested = info.get("external_fixed_ips") or None
        self.service.ports.allocate_ips(session, network, port, requested, attempt)
        for alloc in port.fixed_ips:
            own = interface_subnet_ids(session, router.id)
            self._check_overlap(session, router.id, cast(SubnetRecord, session.get(SubnetRecord, alloc.subnet_id)), own)
        session.add(port)
        session.flush()
        router.gw_port_id = port.id

    @staticmethod
    def _check_overlap(session: Session, router_id: str, subnet: SubnetRecord, attached: set[str]) -> None:
        """A router may not join two subnets whose CIDRs overlap (it could not route them)."""
        new = ipaddress.ip_network(subnet.cidr)
        for other_id in attached:
            other = cast(SubnetRecord, session.get(SubnetRecord, other_id))  # ids of attached subnets
            if other.id == subnet.id:
                raise bad_router(f"Router already has a port on subnet {subnet.id}")
            if ipaddress.ip_network(other.cidr).overlaps(new):
                raise bad_router(
                    f"Cidr {subnet.cidr} of subnet {subnet.id} overlaps with cidr {other.cidr} of subnet {other.id}"
                )

    # --- API ---------------------------------------------------------------------------

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "router")
        v.only(values, ROUTER_FIELDS)
        if values.get("distributed") or values.get("ha"):
            raise BadRequest(
                "Invalid input for operation: distributed and HA routers are not supported.", code="InvalidInput"
            )
        project_id = owner_project(ctx, values)
        name, description = v.string(values, "name"), v.string(values, "description", max_len=1024)
        admin_up = v.boolean(values, "admin_state_up", True)
        self.service.quotas.prepare(project_id)

        def work(session: Session, attempt: int) -> dict[str, Any]:
            router = RouterRecord(
                project_id=project_id, name=name, description=description, admin_state_up=admin_up, routes=[]
            )
            session.add(router)
            self.service.quotas.check(session, project_id, "router")
            if values.get("external_gateway_info"):
                self._set_gateway(session, ctx, router, values["external_gateway_info"], attempt)
            if "routes" in values:
                router.routes = self._routes(session, router, values["routes"])
            return self._view(session, router)

        view = run_in_transaction(self.runtime.db, work)
        self.service.plumbing.sync_router(view["id"])
        return view

    def _view(self, session: Session, router: RouterRecord) -> dict[str, Any]:
        return router_view(router, session.get(PortRecord, router.gw_port_id) if router.gw_port_id else None)

    def _routes(self, session: Session, router: RouterRecord, routes: Any) -> list[dict[str, str]]:
        if routes is None:  # Neutron's convert_none_to_empty_list
            return []
        if not isinstance(routes, list):
            raise v.invalid("routes", routes, "must be a list")
        subnets = [
            cast(SubnetRecord, session.get(SubnetRecord, sid)) for sid in interface_subnet_ids(session, router.id)
        ]
        out = []
        for route in routes:
            if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
                raise v.invalid("routes", route, "each route needs destination and nexthop")
            try:
                dest = ipaddress.ip_network(route["destination"])
                hop = ipaddress.ip_address(route["nexthop"])
            except (ValueError, TypeError):
                raise v.invalid("routes", route, "not a valid destination CIDR and nexthop address") from None
            if not any(hop in ipaddress.ip_network(s.cidr) for s in subnets):
                raise BadRequest(
                    f"Invalid format for routes: {route}, the nexthop is not connected with router.",
                    code="InvalidRoutes",
                )
            out.append({"destination": str(dest), "nexthop": str(hop)})
        return out

    def get(self, ctx: RequestContext, router_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            return self._view(s, get_owned(s, ctx, RouterRecord, router_id))

    def list(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            return [self._view(s, r) for r in list_visible(s, ctx, RouterRecord)]

    def update(self, ctx: RequestContext, router_id: str, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "router")
        v.only(values, UPDATABLE)
        if values.get("distributed") or values.get("ha"):
            raise BadRequest(
                "Invalid input for operation: distributed and HA routers are not supported.", code="InvalidInput"
            )

        def work(session: Session, attempt: int) -> dict[str, Any]:
            router = get_owned(session, ctx, RouterRecord, router_id)
            if "name" in values:
                router.name = v.string(values, "name")
            if "description" in values:
                router.description = v.string(values, "description", max_len=1024)
            if "admin_state_up" in values:
                router.admin_state_up = v.boolean(values, "admin_state_up", True)
            if "external_gateway_info" in values:
                self._set_gateway(session, ctx, router, values["external_gateway_info"], attempt)
            if "routes" in values:
                router.routes = self._routes(session, router, values["routes"])
            router.revision_number += 1
            session.flush()
            return self._view(session, router)

        view = run_in_transaction(self.runtime.db, work)
        self.service.plumbing.sync_router(router_id)
        return view

    def delete(self, ctx: RequestContext, router_id: str) -> None:
        with self.runtime.db.session() as s:
            router = get_owned(s, ctx, RouterRecord, router_id)
            if interface_ports(s, router_id):
                raise Conflict(f"Router {router_id} still has ports", code="RouterInUse")
            if s.scalar(select(FloatingIpRecord.id).where(FloatingIpRecord.router_id == router_id).limit(1)):
                raise Conflict(f"Router {router_id} still has floating IPs associated", code="RouterInUse")
            contract = self.service.plumbing.router_contract(s, router)
            if router.gw_port_id:
                gw = s.get(PortRecord, router.gw_port_id)
                router.gw_port_id = None
                s.flush()
                s.delete(gw)
            s.delete(router)
        self.service.plumbing.teardown_router(contract)

    # --- interfaces ----------------------------------------------------------------------

    def add_interface(self, ctx: RequestContext, router_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or bool(body.get("subnet_id")) == bool(body.get("port_id")):
            raise bad_router("Either subnet_id or port_id must be specified")

        def work(session: Session, attempt: int) -> dict[str, Any]:
            router = get_owned(session, ctx, RouterRecord, router_id)
            attached = interface_subnet_ids(session, router_id)
            if router.gw_port_id:
                attached |= {
                    a.subnet_id for a in cast(PortRecord, session.get(PortRecord, router.gw_port_id)).fixed_ips
                }
            if body.get("subnet_id"):
                subnet = get_subnet(session, ctx, body["subnet_id"])
                if not ctx.can_see(subnet.project_id) and not subnet.network.shared:
                    raise not_found(SubnetRecord, subnet.id)
                if not subnet.gateway_ip:
                    raise bad_router(f"Subnet {subnet.id} does not have a gateway IP")
                self._check_overlap(session, router_id, subnet, attached)
                if session.get(IpAllocationRecord, (subnet.id, subnet.gateway_ip)) is not None:
                    raise Conflict(
                        f"IP address {subnet.gateway_ip} already allocated in subnet {subnet.id}",
                        code="IpAddressAlreadyAllocated",
                    )
                port = PortRecord(
                    project_id=router.project_id,
                    network_id=subnet.network_id,
                    mac_address=self.service.ports.new_mac(),
                    device_id=router_id,
                    device_owner=INTERFACE_OWNER,
                    port_security_enabled=False,
                    status="ACTIVE",
                    binding_vif_details={},
                    binding_profile={},
                    allowed_address_pairs=[],
                    fixed_ips=[
                        IpAllocationRecord(
                            subnet_id=subnet.id, ip_address=subnet.gateway_ip, network_id=subnet.network_id
                        )
                    ],
                )
                session.add(port)
                subnets = [subnet]
            else:
                port = get_owned(session, ctx, PortRecord, body["port_id"])
                if port.device_id or port.device_owner:
                    raise Conflict(
                        f"Unable to complete operation on port {port.id} for network {port.network_id}. "
                        f"Port already has an attached device {port.device_id}.",
                        code="PortInUse",
                    )
                if not port.fixed_ips:
                    raise bad_router(f"Port {port.id} does not have any IP addresses")
                subnets = [cast(SubnetRecord, session.get(SubnetRecord, a.subnet_id)) for a in port.fixed_ips]
                for subnet in subnets:
                    self._check_overlap(session, router_id, subnet, attached)
                port.device_id, port.device_owner, port.status = router_id, INTERFACE_OWNER, "ACTIVE"
                port.security_groups = []
                port.port_security_enabled = False
            router.revision_number += 1
            session.flush()
            return {
                "id": router_id,
                "tenant_id": router.project_id,
                "project_id": router.project_id,
                "port_id": port.id,
                "network_id": port.network_id,
                "subnet_id": subnets[0].id,
                "subnet_ids": [s.id for s in subnets],
            }

        result = run_in_transaction(self.runtime.db, work)
        self.service.plumbing.sync_network(result["network_id"])
        self.service.plumbing.sync_router(router_id)
        return result

    def remove_interface(self, ctx: RequestContext, router_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not (body.get("subnet_id") or body.get("port_id")):
            raise bad_router("Either subnet_id or port_id must be specified")
        with self.runtime.db.session() as s:
            router = get_owned(s, ctx, RouterRecord, router_id)
            ports = interface_ports(s, router_id)
            if body.get("port_id"):
                port = next((p for p in ports if p.id == body["port_id"]), None)
                if port is None:
                    raise interface_not_found(router_id, "port_id", body["port_id"])
            else:
                port = next((p for p in ports if any(a.subnet_id == body["subnet_id"] for a in p.fixed_ips)), None)
                if port is None:
                    raise interface_not_found(router_id, "subnet_id", body["subnet_id"])
            subnet_ids = [a.subnet_id for a in port.fixed_ips]
            for fip in s.scalars(select(FloatingIpRecord).where(FloatingIpRecord.router_id == router_id)):
                fixed = s.get(PortRecord, fip.fixed_port_id)
                if fixed is not None and any(a.subnet_id in subnet_ids for a in fixed.fixed_ips):
                    raise Conflict(
                        f"Router interface for subnet {subnet_ids[0]} on router {router_id} cannot be deleted, "
                        "as it is required by one or more floating IPs.",
                        code="RouterInterfaceInUseByFloatingIP",
                    )
            result = {
                "id": router_id,
                "tenant_id": router.project_id,
                "project_id": router.project_id,
                "port_id": port.id,
                "network_id": port.network_id,
                "subnet_id": subnet_ids[0] if subnet_ids else None,
                "subnet_ids": subnet_ids,
            }
            router.revision_number += 1
            s.delete(port)
        self.service.plumbing.sync_router(router_id)
        self.service.plumbing.sync_network(result["network_id"])
        return result
