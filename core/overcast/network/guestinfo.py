"""What the network service tells the metadata service about guests.

Two questions, both answered from IPAM: *whose is this address?* (a metadata request arrives
through a network's or a router's proxy with the guest's source address; Neutron's metadata
agent asks the same) and *what does this server's networking look like?* (for
``network_data.json`` and the EC2 ``local-ipv4``/``public-ipv4``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db.models.network import FloatingIpRecord, IpAllocationRecord, NetworkRecord, PortRecord, SubnetRecord

ROUTER_INTERFACE = "network:router_interface"


@dataclass(frozen=True)
class GuestSubnet:
    """One subnet a guest port has an address on."""

    id: str
    cidr: str
    ip_version: int
    gateway_ip: str | None
    enable_dhcp: bool
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[tuple[str, str], ...] = ()  # (destination, nexthop)


@dataclass(frozen=True)
class GuestPort:
    """One port of a server with its addresses, as the guest should configure it."""

    id: str
    network_id: str
    mac_address: str
    mtu: int
    vif_type: str
    fixed_ips: tuple[tuple[str, GuestSubnet], ...] = ()  # (address, subnet)
    floating_ips: tuple[str, ...] = field(default=())


def _networks_behind_router(session: Session, router_id: str) -> list[str]:
    return list(
        session.scalars(
            select(PortRecord.network_id).where(
                PortRecord.device_id == router_id, PortRecord.device_owner == ROUTER_INTERFACE
            )
        )
    )


def device_at(
    session: Session, ip_address: str, network_id: str | None = None, router_id: str | None = None
) -> str | None:
    """The server (``device_id``) whose port holds ``ip_address`` on ``network_id``, or on one
    of the networks behind ``router_id``; ``None`` when no server's port has it (a router's or
    DHCP port, an unknown address, or an address on two of the router's networks)."""
    if network_id:
        networks = [network_id]
    elif router_id:
        networks = _networks_behind_router(session, router_id)
    else:
        return None
    if not networks:
        return None
    ports = session.scalars(
        select(PortRecord)
        .join(IpAllocationRecord, IpAllocationRecord.port_id == PortRecord.id)
        .where(IpAllocationRecord.ip_address == ip_address, IpAllocationRecord.network_id.in_(networks))
    ).all()
    devices = {p.device_id for p in ports if p.device_id and p.device_owner.startswith("compute:")}
    if len(ports) != 1 or len(devices) != 1:
        return None
    return devices.pop()


def _subnet(sub: SubnetRecord) -> GuestSubnet:
    return GuestSubnet(
        id=sub.id,
        cidr=sub.cidr,
        ip_version=sub.ip_version,
        gateway_ip=sub.gateway_ip,
        enable_dhcp=sub.enable_dhcp,
        dns_nameservers=tuple(sub.dns_nameservers or ()),
        host_routes=tuple((r["destination"], r["nexthop"]) for r in sub.host_routes or ()),
    )


def guest_ports(session: Session, instance_uuid: str) -> list[GuestPort]:
    """The server's ports in creation order (the guest's eth0, eth1, ...)."""
    out = []
    ports = session.scalars(
        select(PortRecord).where(PortRecord.device_id == instance_uuid).order_by(PortRecord.created_at)
    )
    for port in ports:
        net = session.get(NetworkRecord, port.network_id)
        fixed = tuple(
            (alloc.ip_address, _subnet(sub))
            for alloc in port.fixed_ips
            if (sub := session.get(SubnetRecord, alloc.subnet_id)) is not None
        )
        floating = tuple(
            f.floating_ip_address
            for f in session.scalars(select(FloatingIpRecord).where(FloatingIpRecord.fixed_port_id == port.id))
        )
        out.append(
            GuestPort(
                id=port.id,
                network_id=port.network_id,
                mac_address=port.mac_address,
                mtu=net.mtu if net is not None else 1500,
                vif_type=port.binding_vif_type,
                fixed_ips=fixed,
                floating_ips=floating,
            )
        )
    return out
