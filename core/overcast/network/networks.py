"""Networks and their segments: flat (one per physical network) or VXLAN (an allocated VNI)."""

from __future__ import annotations

import random
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.context import RequestContext, system_context
from overcast.db.models.network import FloatingIpRecord, NetworkRecord, PortRecord
from overcast.errors import BadRequest, Conflict, Forbidden
from overcast.network import validate as v
from overcast.network.db import run_in_transaction
from overcast.network.lookup import get_network, list_visible
from overcast.network.views import network_view

NETWORK_FIELDS = {
    "name",
    "description",
    "admin_state_up",
    "shared",
    "router:external",
    "mtu",
    "port_security_enabled",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "tenant_id",
    "project_id",
    "availability_zone_hints",
    "qos_policy_id",
    "is_default",
    "tags",
}
# dns_domain/dns_name (the dns-integration extension) are not served: refused as Neutron
# refuses an attribute whose extension is not loaded, never stored and dropped
UPDATABLE = {
    "name",
    "description",
    "admin_state_up",
    "shared",
    "router:external",
    "mtu",
    "port_security_enabled",
    "qos_policy_id",
    "is_default",
}
ADMIN_ONLY = {
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "shared",
    "router:external",
}
NETWORK_TYPES = ("vxlan", "flat")
MAX_VNI = 16777215


def free_vni(low: int, high: int, used: Collection[int | None], rng: random.Random | None = None) -> int | None:
    """A VNI in ``low..high`` that no network of this cloud uses, chosen at random: another
    cloud on the same host (or a stopped cloud's leftover devices, which keep theirs) then
    almost never wants the same one, where counting up from ``low`` made every cloud take
    1001 first. A concurrent create that picked the same is retried (the segment key is
    unique) and picks again."""
    rng = rng or _rng
    span = high - low + 1
    if len(used) < span // 2:
        for _ in range(64):
            vni = rng.randint(low, high)
            if vni not in used:
                return vni
    free = [vni for vni in range(low, high + 1) if vni not in used]
    return rng.choice(free) if free else None


_rng = random.SystemRandom()


def owner_project(ctx: RequestContext, values: dict[str, Any]) -> str:
    """The project a new resource belongs to: the caller's, or any for an admin."""
    asked = values.get("project_id") or values.get("tenant_id")
    if asked and asked != ctx.project_id:
        if not ctx.is_admin:
            raise Forbidden("Only an admin may create resources for another project.", code="PolicyNotAuthorized")
        if not isinstance(asked, str):
            raise v.invalid("project_id", asked, "must be a string")
        return asked
    if ctx.project_id is None:
        raise BadRequest("A project-scoped token is required.", code="BadRequest")
    return ctx.project_id


class NetworkManager:
    def __init__(self, runtime: Any, service: Any) -> None:
        self.runtime = runtime
        self.service = service
        self.settings = runtime.config.networking

    # --- segments ------------------------------------------------------------------------

    def _segment(
        self, session: Session, values: dict[str, Any], attempt: int
    ) -> tuple[str, str | None, int | None, str]:
        net_type = values.get("provider:network_type") or self.settings.default_network_type
        if net_type not in NETWORK_TYPES:
            raise BadRequest(
                f"Invalid input for operation: network_type value '{net_type}' not supported "
                f"(this cloud offers {', '.join(NETWORK_TYPES)}; VLANs are unavailable on its hosts).",
                code="InvalidInput",
            )
        physnet = values.get("provider:physical_network")
        seg_id = values.get("provider:segmentation_id")
        if net_type == "flat":
            if seg_id is not None:
                raise BadRequest(
                    "Invalid input for operation: segmentation_id requires a VLAN or tunnel network type.",
                    code="InvalidInput",
                )
            if not physnet or not isinstance(physnet, str):
                raise BadRequest(
                    "Invalid input for operation: physical_network required for flat provider network.",
                    code="InvalidInput",
                )
            key = f"flat:{physnet}"
            if session.scalar(select(NetworkRecord.id).where(NetworkRecord.segment_key == key)):
                raise Conflict(
                    f"Unable to create the flat network. Physical network {physnet} is in use.", code="FlatNetworkInUse"
                )
            return net_type, physnet, None, key
        if physnet:
            raise BadRequest(
                "Invalid input for operation: physical_network not allowed for vxlan networks.", code="InvalidInput"
            )
        if seg_id is not None:
            seg_id = v.integer(seg_id, "provider:segmentation_id", 1, MAX_VNI)
            key = f"vxlan:{seg_id}"
            if session.scalar(select(NetworkRecord.id).where(NetworkRecord.segment_key == key)):
                raise Conflict(f"Unable to create the network. The VXLAN {seg_id} is in use.", code="TunnelIdInUse")
            return net_type, None, seg_id, key
        used = set(session.scalars(select(NetworkRecord.segmentation_id).where(NetworkRecord.network_type == "vxlan")))
        vni = free_vni(self.settings.vni_min, self.settings.vni_max, used)
        if vni is None:
            raise Conflict(
                "Unable to create the network. No tenant network is available for allocation.",
                code="NoNetworkAvailable",
            )
        return net_type, None, vni, f"vxlan:{vni}"

    def _mtu(self, values: dict[str, Any], net_type: str) -> int:
        highest = self.settings.vxlan_mtu if net_type == "vxlan" else self.settings.flat_mtu
        if values.get("mtu") is None:
            return highest
        mtu = v.integer(values["mtu"], "mtu", 68, 65535)
        if mtu > highest:
            raise BadRequest(
                f"Invalid input for operation: Requested MTU is too big, maximum is {highest}.", code="InvalidInput"
            )
        return mtu

    # --- API ---------------------------------------------------------------------------------

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "network")
        v.only(values, NETWORK_FIELDS)
        if not ctx.is_admin and ADMIN_ONLY & {k for k, val in values.items() if val not in (None, False)}:
            raise Forbidden("(rule:create_network) is disallowed by policy", code="PolicyNotAuthorized")
        project_id = owner_project(ctx, values)
        name = v.string(values, "name")
        description = v.string(values, "description", max_len=1024)
        admin_up = v.boolean(values, "admin_state_up", True)
        shared = v.boolean(values, "shared", False)
        external = v.boolean(values, "router:external", False)
        port_security = v.boolean(values, "port_security_enabled", True)
        self.service.quotas.prepare(project_id)

        def work(session: Session, attempt: int) -> dict[str, Any]:
            net_type, physnet, seg_id, key = self._segment(session, values, attempt)
            net = NetworkRecord(
                project_id=project_id,
                name=name,
                description=description,
                admin_state_up=admin_up,
                shared=shared,
                external=external,
                mtu=self._mtu(values, net_type),
                port_security_enabled=port_security,
                network_type=net_type,
                physical_network=physnet,
                segmentation_id=seg_id,
                segment_key=key,
                subnets=[],
            )
            session.add(net)
            self.service.quotas.check(session, project_id, "network")
            return network_view(net, ctx.is_admin)

        return run_in_transaction(self.runtime.db, work)

    def get(self, ctx: RequestContext, network_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            return network_view(get_network(s, ctx, network_id), ctx.is_admin)

    def list(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            return [network_view(n, ctx.is_admin) for n in list_visible(s, ctx, NetworkRecord)]

    def update(self, ctx: RequestContext, network_id: str, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "network")
        v.only(values, UPDATABLE | ADMIN_ONLY)
        if set(values) & {"provider:network_type", "provider:physical_network", "provider:segmentation_id"}:
            raise BadRequest(
                "Invalid input for operation: plugin does not support updating provider attributes.",
                code="InvalidInput",
            )
        if not ctx.is_admin and {"shared", "router:external"} & set(values):
            raise Forbidden("(rule:update_network) is disallowed by policy", code="PolicyNotAuthorized")
        with self.runtime.db.session() as s:
            net = get_network(s, ctx, network_id, write=True)
            if "name" in values:
                net.name = v.string(values, "name")
            if "description" in values:
                net.description = v.string(values, "description", max_len=1024)
            if "admin_state_up" in values:
                net.admin_state_up = v.boolean(values, "admin_state_up", True)
            if "shared" in values:
                net.shared = v.boolean(values, "shared", False)
            if "router:external" in values:
                net.external = v.boolean(values, "router:external", False)
            if "port_security_enabled" in values:
                net.port_security_enabled = v.boolean(values, "port_security_enabled", True)
            if "mtu" in values:
                net.mtu = self._mtu(values, net.network_type)
            net.revision_number += 1
            s.flush()
            view = network_view(net, ctx.is_admin)
        self.service.plumbing.sync_network(network_id)
        return view

    def delete(self, ctx: RequestContext, network_id: str) -> None:
        """Delete a network with its DHCP port and, on an external network, its floating IPs
        (whoever holds them, as Neutron does); any other port keeps it (409)."""
        from overcast.network.floatingips import FIP_OWNER  # it imports this module

        with self.runtime.db.session() as s:
            get_network(s, ctx, network_id, write=True)
            others = s.scalars(
                select(PortRecord.id).where(
                    PortRecord.network_id == network_id, PortRecord.device_owner.not_in(("network:dhcp", FIP_OWNER))
                )
            ).first()
            floating = list(
                s.scalars(select(FloatingIpRecord.id).where(FloatingIpRecord.floating_network_id == network_id))
            )
        if others is None:
            for fip_id in floating:
                self.service.floating_ips.delete(system_context(), fip_id)
        with self.runtime.db.session() as s:
            net = get_network(s, ctx, network_id, write=True)
            ports = list(s.scalars(select(PortRecord).where(PortRecord.network_id == network_id)))
            if any(p.device_owner != "network:dhcp" for p in ports):
                raise Conflict(
                    f"Unable to complete operation on network {network_id}. There are one or more "
                    "ports still in use on the network.",
                    code="NetworkInUse",
                )
            contract = self.service.plumbing.network_contract(s, net)
            for port in ports:
                s.delete(port)
            s.flush()
            s.delete(net)
        self.service.plumbing.teardown_network(contract)
