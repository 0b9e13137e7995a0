"""Ports: MAC and fixed IPs (from IPAM), device owner, binding, port security, address pairs."""

from __future__ import annotations

import ipaddress
import random
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.network import (
    FloatingIpRecord,
    IpAllocationRecord,
    NetworkRecord,
    PortRecord,
    PortSecurityGroupRecord,
    SecurityGroupRecord,
)
from overcast.errors import BadRequest, Conflict, Forbidden
from overcast.network import ipam
from overcast.network import validate as v
from overcast.network.db import run_in_transaction
from overcast.network.lookup import get_network, get_owned, list_visible, not_found
from overcast.network.networks import owner_project
from overcast.network.views import port_view

PORT_FIELDS = {
    "name",
    "description",
    "network_id",
    "admin_state_up",
    "mac_address",
    "fixed_ips",
    "device_id",
    "device_owner",
    "security_groups",
    "port_security_enabled",
    "allowed_address_pairs",
    "binding:host_id",
    "binding:vnic_type",
    "binding:profile",
    "tenant_id",
    "project_id",
    "extra_dhcp_opts",
    "qos_policy_id",
    "propagate_uplink_status",
    "tags",
    "numa_affinity_policy",
    "device_profile",
    "hints",
}
UPDATABLE = PORT_FIELDS - {"network_id", "tenant_id", "project_id", "mac_address"}
ROUTER_OWNERS = ("network:router_interface", "network:router_gateway", "network:floatingip")
VNIC_TYPES = ("normal",)


def is_network_owned(device_owner: str) -> bool:
    return device_owner.startswith("network:")


class PortManager:
    def __init__(self, runtime: Any, service: Any) -> None:
        self.runtime = runtime
        self.service = service

    # --- pieces ----------------------------------------------------------------------------

    def new_mac(self) -> str:
        prefix = self.runtime.config.networking.mac_prefix
        return prefix + "".join(f":{random.randint(0, 255):02x}" for _ in range(3))

    def allocate_ips(
        self, session: Session, network: NetworkRecord, port: PortRecord, requested: Any, attempt: int
    ) -> None:
        """Give ``port`` its addresses: the ones asked for, or one per IP version by default."""
        subnets = list(network.subnets)
        if requested is None:
            chosen = []
            v4 = [s for s in subnets if s.ip_version == 4]
            for sub in v4:
                ip = ipam.pick_free_address(session, sub, spread=1 + attempt)
                if ip is not None:
                    chosen.append((sub, ip))
                    break
            else:
                if v4:
                    raise ipam.no_more_addresses(network.id)
            for sub in (s for s in subnets if s.ip_version == 6):
                if ipam.is_auto_address(sub):
                    chosen.append((sub, ipam.eui64_address(sub.cidr, port.mac_address)))
                    continue
                ip = ipam.pick_free_address(session, sub, spread=1 + attempt)
                if ip is None:
                    raise ipam.no_more_addresses(network.id)
                chosen.append((sub, ip))
        else:
            if not isinstance(requested, list):
                raise v.invalid("fixed_ips", requested, "must be a list")
            chosen = []
            # the addresses asked for by name are not handed out to the entries that name a subnet only
            named = {str(e["ip_address"]) for e in requested if isinstance(e, dict) and e.get("ip_address")}
            for entry in requested:
                if not isinstance(entry, dict) or not set(entry) <= {"subnet_id", "ip_address"} or not entry:
                    raise v.invalid("fixed_ips", entry, "each entry needs subnet_id and/or ip_address")
                sub = None
                if entry.get("subnet_id") is not None:
                    sub = next((s for s in subnets if s.id == entry["subnet_id"]), None)
                    if sub is None:
                        raise BadRequest(
                            f"Invalid input for operation: Failed to create port on network {network.id}, "
                            f"because fixed_ips included invalid subnet {entry['subnet_id']}.",
                            code="InvalidInput",
                        )
                if entry.get("ip_address") is not None:
                    ip = ipam.parse_ip(entry["ip_address"], "fixed_ips")
                    sub = sub or ipam.subnet_for_address(subnets, ip)
                    if sub is None:
                        raise BadRequest(
                            f"IP address {ip} is not a valid IP for any subnet on network {network.id}.",
                            code="InvalidIpForNetwork",
                        )
                    if ipam.is_auto_address(sub) and port.device_owner not in ROUTER_OWNERS:
                        raise BadRequest(
                            f"IPv6 address {ip} cannot be directly assigned to a port on subnet {sub.id} "
                            "since the subnet is configured for automatic addresses",
                            code="InvalidInput",
                        )
                    ipam.check_requested_address(session, sub, ip)
                elif sub is not None and ipam.is_auto_address(sub):
                    ip = ipam.eui64_address(sub.cidr, port.mac_address)
                else:
                    if sub is None:  # {"subnet_id": null} alone names neither
                        raise v.invalid("fixed_ips", entry, "each entry needs subnet_id and/or ip_address")
                    held = named | {str(c[1]) for c in chosen}
                    ip = ipam.pick_free_address(session, sub, spread=1 + attempt, also_taken=held)
                    if ip is None:
                        raise ipam.no_more_addresses(network.id)
                if any(str(ip) == str(c[1]) for c in chosen):
                    raise v.invalid("fixed_ips", entry, f"duplicate address {ip}")
                chosen.append((sub, ip))
        port.fixed_ips = [
            IpAllocationRecord(subnet_id=sub.id, ip_address=str(ip), network_id=network.id) for sub, ip in chosen
        ]

    def _security_groups(
        self,
        session: Session,
        ctx: RequestContext,
        project_id: str,
        values: dict[str, Any],
        port_security: bool,
        device_owner: str,
    ) -> list[str]:
        if "security_groups" in values and values["security_groups"] is not None:
            ids = v.string_list(values, "security_groups")
        elif port_security and not is_network_owned(device_owner):
            ids = [self.service.security_groups.ensure_default(project_id)]
        else:
            ids = []
        if ids and not port_security:
            raise BadRequest(
                "Port security must be enabled and port must have an IP address in order to use security groups.",
                code="PortSecurityAndIPRequiredForSecurityGroups",
            )
        for group_id in ids:
            group = session.get(SecurityGroupRecord, group_id)
            if group is None or (group.project_id != project_id and not ctx.is_admin):
                raise not_found(SecurityGroupRecord, group_id)
        return sorted(set(ids))

    @staticmethod
    def _address_pairs(values: dict[str, Any], port_security: bool) -> list[dict[str, str]]:
        pairs = values.get("allowed_address_pairs") or []
        if not isinstance(pairs, list):
            raise v.invalid("allowed_address_pairs", pairs, "must be a list")
        if pairs and not port_security:
            raise Conflict(
                "Port Security must be enabled in order to have allowed address pairs on a port.",
                code="AddressPairAndPortSecurityRequired",
            )
        out = []
        for pair in pairs:
            if not isinstance(pair, dict) or "ip_address" not in pair or not set(pair) <= {"ip_address", "mac_address"}:
                raise v.invalid(
                    "allowed_address_pairs", pair, "each pair needs ip_address (and optionally mac_address)"
                )
            try:
                addr = ipaddress.ip_network(pair["ip_address"], strict=False)
            except (ValueError, TypeError):
                raise v.invalid(
                    "allowed_address_pairs", pair, f"'{pair['ip_address']}' is not an IP address or CIDR"
                ) from None
            entry = {"ip_address": str(addr) if addr.prefixlen != addr.max_prefixlen else str(addr.network_address)}
            if pair.get("mac_address"):
                entry["mac_address"] = v.mac(pair["mac_address"], "allowed_address_pairs")
            out.append(entry)
        return out

    def _binding(self, ctx: RequestContext, values: dict[str, Any], port: PortRecord) -> None:
        if "binding:host_id" in values:
            host = values["binding:host_id"] or ""
            if not isinstance(host, str):
                raise v.invalid("binding:host_id", host, "must be a string")
            if host and not ctx.is_admin and host != port.binding_host:
                raise Forbidden(
                    "(rule:create_port:binding:host_id) is disallowed by policy", code="PolicyNotAuthorized"
                )
            port.binding_host = host
            if not host:
                port.binding_vif_type, port.binding_vif_details, port.status = "unbound", {}, "DOWN"
        if "binding:vnic_type" in values:
            if values["binding:vnic_type"] not in VNIC_TYPES:
                raise v.invalid("binding:vnic_type", values["binding:vnic_type"], f"must be one of {VNIC_TYPES}")
        if "binding:profile" in values:
            profile = values["binding:profile"] or {}
            if not isinstance(profile, dict):
                raise v.invalid("binding:profile", profile, "must be an object")
            port.binding_profile = profile

    # --- API -------------------------------------------------------------------------------

    def create(self, ctx: RequestContext, body: Any, delete_with_device: bool = False) -> dict[str, Any]:
        values = v.body_of(body, "port")
        v.only(values, PORT_FIELDS)
        project_id = owner_project(ctx, values)
        name = v.string(values, "name")
        description = v.string(values, "description", max_len=1024)
        device_id = v.string(values, "device_id")
        device_owner = v.string(values, "device_owner")
        admin_up = v.boolean(values, "admin_state_up", True)
        mac = v.mac(values["mac_address"]) if values.get("mac_address") else None
        self.service.quotas.prepare(project_id)
        if "security_groups" not in values:
            self.service.security_groups.ensure_default(project_id)

        def work(session: Session, attempt: int) -> dict[str, Any]:
            network = get_network(session, ctx, values.get("network_id"))
            if not (ctx.is_admin or network.project_id == project_id or network.shared):
                raise not_found(NetworkRecord, network.id)
            port_security = v.boolean(values, "port_security_enabled", network.port_security_enabled)
            if mac and session.scalar(
                select(PortRecord.id).where(PortRecord.network_id == network.id, PortRecord.mac_address == mac)
            ):
                raise Conflict(
                    f"Unable to complete operation for network {network.id}. The mac address {mac} is in use.",
                    code="MacAddressInUse",
                )
            port = PortRecord(
                project_id=project_id,
                network_id=network.id,
                name=name,
                description=description,
                mac_address=mac or self.new_mac(),
                admin_state_up=admin_up,
                device_id=device_id,
                device_owner=device_owner,
                port_security_enabled=port_security,
                delete_with_device=delete_with_device,
                allowed_address_pairs=self._address_pairs(values, port_security),
                binding_vif_details={},
                binding_profile={},
            )
            self._binding(ctx, values, port)
            groups = self._security_groups(session, ctx, project_id, values, port_security, device_owner)
            port.security_groups = [PortSecurityGroupRecord(security_group_id=g) for g in groups]
            self.allocate_ips(session, network, port, values.get("fixed_ips"), attempt)
            session.add(port)
            self.service.quotas.check(session, project_id, "port")
            return port_view(port)

        view = run_in_transaction(self.runtime.db, work)
        self.service.plumbing.port_changed(view["id"], old_host="", old_groups=())
        return self.get(ctx, view["id"]) if view["binding:host_id"] else view  # with its binding

    def get(self, ctx: RequestContext, port_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            return port_view(get_owned(s, ctx, PortRecord, port_id))

    def list(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            return [port_view(p) for p in list_visible(s, ctx, PortRecord)]

    def update(self, ctx: RequestContext, port_id: str, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "port")
        v.only(values, UPDATABLE)
        with self.runtime.db.session() as s:
            port = get_owned(s, ctx, PortRecord, port_id)
            project_id = port.project_id
        if values.get("security_groups") is None and values.get("port_security_enabled") is True:
            self.service.security_groups.ensure_default(project_id)

        def work(session: Session, attempt: int) -> tuple[dict[str, Any], str, tuple[str, ...]]:
            port = get_owned(session, ctx, PortRecord, port_id)
            old_host, old_groups = port.binding_host, tuple(g.security_group_id for g in port.security_groups)
            for field in ("name", "device_id", "device_owner"):
                if field in values:
                    setattr(port, field, v.string(values, field))
            if "description" in values:
                port.description = v.string(values, "description", max_len=1024)
            if "admin_state_up" in values:
                port.admin_state_up = v.boolean(values, "admin_state_up", True)
            port_security = v.boolean(values, "port_security_enabled", port.port_security_enabled)
            if "port_security_enabled" in values or "security_groups" in values:
                if "security_groups" in values or port_security != port.port_security_enabled:
                    keep = {k: values[k] for k in ("security_groups",) if k in values}
                    if not port_security and "security_groups" not in keep:
                        keep["security_groups"] = []
                    groups = self._security_groups(
                        session, ctx, port.project_id, keep, port_security, port.device_owner
                    )
                    port.security_groups = [PortSecurityGroupRecord(security_group_id=g) for g in groups]
                port.port_security_enabled = port_security
            if "allowed_address_pairs" in values or not port_security:
                pairs = values.get("allowed_address_pairs", port.allowed_address_pairs if port_security else [])
                port.allowed_address_pairs = self._address_pairs({"allowed_address_pairs": pairs}, port_security)
            if "fixed_ips" in values:
                network = cast(NetworkRecord, session.get(NetworkRecord, port.network_id))  # foreign key
                port.fixed_ips = []
                session.flush()
                self.allocate_ips(session, network, port, values["fixed_ips"], attempt)
            self._binding(ctx, values, port)
            port.revision_number += 1
            session.flush()
            return port_view(port), old_host, old_groups

        view, old_host, old_groups = run_in_transaction(self.runtime.db, work)
        self.service.plumbing.port_changed(port_id, old_host=old_host, old_groups=old_groups)
        return self.get(ctx, port_id) if view["binding:host_id"] else view  # with its binding

    def delete(self, ctx: RequestContext, port_id: str, internal: bool = False) -> None:
        with self.runtime.db.session() as s:
            port = get_owned(s, ctx, PortRecord, port_id)
            if port.device_owner in ROUTER_OWNERS and not internal:
                raise Conflict(
                    f"Port {port_id} cannot be deleted directly via the port API: has device owner "
                    f"{port.device_owner}.",
                    code="L3PortInUse",
                )
            gone = self.service.plumbing.port_contract(s, port)
            host, network_id = port.binding_host, port.network_id
            groups = tuple(g.security_group_id for g in port.security_groups)
            routers: set[str] = set()
            for fip in s.scalars(select(FloatingIpRecord).where(FloatingIpRecord.fixed_port_id == port_id)):
                if fip.router_id:
                    routers.add(fip.router_id)
                fip.fixed_port_id, fip.fixed_ip_address, fip.router_id, fip.status = None, None, None, "DOWN"
            s.flush()
            s.delete(port)
        self.service.plumbing.port_deleted(gone, host, network_id, groups, routers)
