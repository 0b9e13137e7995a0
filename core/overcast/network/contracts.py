"""Database rows -> the contract dataclasses (``overcast.types``) sent to host agents."""

from __future__ import annotations

import ipaddress
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from overcast.db.models.network import (
    FloatingIpRecord,
    NetworkRecord,
    PortRecord,
    PortSecurityGroupRecord,
    RouterRecord,
    SecurityGroupRuleRecord,
    SubnetRecord,
)
from overcast.network.views import normalized_cidr
from overcast.types import (
    FixedIp,
    FloatingIp,
    HostRoute,
    IpAllocationPool,
    Network,
    Port,
    Router,
    RouterInterface,
    SecurityGroupRule,
    Subnet,
)


def subnet_contract(sub: SubnetRecord) -> Subnet:
    return Subnet(
        id=sub.id,
        network_id=sub.network_id,
        cidr=sub.cidr,
        ip_version=sub.ip_version,
        gateway_ip=sub.gateway_ip,
        enable_dhcp=sub.enable_dhcp,
        dns_nameservers=tuple(sub.dns_nameservers),
        host_routes=tuple(HostRoute(r["destination"], r["nexthop"]) for r in sub.host_routes),
        allocation_pools=tuple(IpAllocationPool(p["start"], p["end"]) for p in sub.allocation_pools),
    )


def network_contract(net: NetworkRecord) -> Network:
    return Network(
        id=net.id,
        name=net.name,
        project_id=net.project_id,
        network_type=net.network_type,
        segmentation_id=net.segmentation_id,
        physical_network=net.physical_network,
        mtu=net.mtu,
        external=net.external,
        shared=net.shared,
        subnets=tuple(subnet_contract(s) for s in net.subnets),
    )


def _group_member_ips(session: Session, group_id: str, ethertype: str) -> tuple[str, ...]:
    version = 4 if ethertype == "IPv4" else 6
    ips: set[str] = set()
    members = session.scalars(
        select(PortRecord)
        .options(selectinload(PortRecord.fixed_ips))
        .join(PortSecurityGroupRecord, PortSecurityGroupRecord.port_id == PortRecord.id)
        .where(PortSecurityGroupRecord.security_group_id == group_id)
    )
    for port in members:
        ips.update(a.ip_address for a in port.fixed_ips if ipaddress.ip_address(a.ip_address).version == version)
        for pair in port.allowed_address_pairs:
            if ipaddress.ip_network(pair["ip_address"], strict=False).version == version:
                ips.add(pair["ip_address"])
    return tuple(sorted(ips))


def port_rules(session: Session, port: PortRecord) -> tuple[SecurityGroupRule, ...]:
    group_ids = [g.security_group_id for g in port.security_groups]
    if not group_ids:
        return ()
    rows = session.scalars(
        select(SecurityGroupRuleRecord)
        .where(SecurityGroupRuleRecord.security_group_id.in_(group_ids))
        .order_by(SecurityGroupRuleRecord.created_at, SecurityGroupRuleRecord.id)
    )
    members: dict[tuple[str, str], tuple[str, ...]] = {}
    out = []
    for r in rows:
        ips: tuple[str, ...] = ()
        if r.remote_group_id:
            key = (r.remote_group_id, r.ethertype)
            if key not in members:
                members[key] = _group_member_ips(session, r.remote_group_id, r.ethertype)
            ips = members[key]
        out.append(
            SecurityGroupRule(
                id=r.id,
                security_group_id=r.security_group_id,
                direction=r.direction,
                ethertype=r.ethertype,
                protocol=r.protocol,
                port_range_min=r.port_range_min,
                port_range_max=r.port_range_max,
                remote_ip_prefix=normalized_cidr(r.remote_ip_prefix),  # a network, for the driver
                remote_group_id=r.remote_group_id,
                remote_group_ips=ips,
            )
        )
    return tuple(out)


def port_contract(session: Session, port: PortRecord, with_rules: bool = True) -> Port:
    """``with_rules=False`` leaves out the firewall rules (DHCP only needs addresses)."""
    return Port(
        id=port.id,
        network_id=port.network_id,
        mac_address=port.mac_address,
        project_id=port.project_id,
        fixed_ips=tuple(FixedIp(a.subnet_id, a.ip_address) for a in port.fixed_ips),
        device_id=port.device_id,
        device_owner=port.device_owner,
        binding_host=port.binding_host,
        port_security_enabled=port.port_security_enabled,
        security_group_rules=port_rules(session, port) if port.port_security_enabled and with_rules else (),
        allowed_address_pairs=tuple(
            (p["ip_address"], p.get("mac_address") or port.mac_address) for p in port.allowed_address_pairs
        ),
    )


def router_contract(session: Session, router: RouterRecord) -> Router:
    interfaces = []
    ports = session.scalars(
        select(PortRecord)
        .where(PortRecord.device_id == router.id, PortRecord.device_owner == "network:router_interface")
        .order_by(PortRecord.created_at, PortRecord.id)
    )
    for port in ports:
        for alloc in port.fixed_ips:
            interfaces.append(
                RouterInterface(
                    subnet_contract(cast(SubnetRecord, session.get(SubnetRecord, alloc.subnet_id))),
                    port_contract(session, port),
                )
            )
    external_network = external_port = gateway_ip = None
    if router.gw_port_id:
        gw = cast(PortRecord, session.get(PortRecord, router.gw_port_id))  # foreign keys
        external_network = network_contract(cast(NetworkRecord, session.get(NetworkRecord, gw.network_id)))
        external_port = port_contract(session, gw)
        v4 = [a.ip_address for a in gw.fixed_ips if ipaddress.ip_address(a.ip_address).version == 4]
        gateway_ip = v4[0] if v4 else None
    fips = session.scalars(
        select(FloatingIpRecord)
        .where(FloatingIpRecord.router_id == router.id)
        .order_by(FloatingIpRecord.floating_ip_address)
    )
    return Router(
        id=router.id,
        project_id=router.project_id,
        external_network=external_network,
        external_gateway_ip=gateway_ip,
        external_port=external_port,
        enable_snat=router.enable_snat,
        interfaces=tuple(interfaces),
        floating_ips=tuple(FloatingIp(f.id, f.floating_ip_address, f.fixed_ip_address, f.fixed_port_id) for f in fips),
        routes=tuple(HostRoute(r["destination"], r["nexthop"]) for r in router.routes),
    )
