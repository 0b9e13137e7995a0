"""Subnets: CIDR, gateway, allocation pools, DNS servers, host routes and DHCP."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.network import IpAllocationRecord, PortRecord, SubnetRecord
from overcast.errors import BadRequest, Conflict, Forbidden
from overcast.network import ipam, subnetpools
from overcast.network import validate as v
from overcast.network.db import run_in_transaction
from overcast.network.lookup import get_network, get_subnet, list_visible
from overcast.network.networks import owner_project
from overcast.network.views import subnet_view

SUBNET_FIELDS = {
    "name",
    "description",
    "network_id",
    "ip_version",
    "cidr",
    "gateway_ip",
    "enable_dhcp",
    "dns_nameservers",
    "host_routes",
    "allocation_pools",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "tenant_id",
    "project_id",
    "subnetpool_id",
    "prefixlen",
    "use_default_subnetpool",
    "service_types",
    "segment_id",
    "dns_publish_fixed_ip",
    "tags",
}
UPDATABLE = {
    "name",
    "description",
    "gateway_ip",
    "enable_dhcp",
    "dns_nameservers",
    "host_routes",
    "allocation_pools",
    "service_types",
    "dns_publish_fixed_ip",
}
IPV6_MODES = (None, "slaac", "dhcpv6-stateful", "dhcpv6-stateless")


def _gateway(values: dict[str, Any], net: ipam.IPNetwork) -> ipam.IPAddress | None:
    if "gateway_ip" not in values:
        return ipam.first_host(net)
    if values["gateway_ip"] is None:
        return None
    gw = ipam.parse_ip(values["gateway_ip"], "gateway_ip")
    if gw not in net or gw == net.network_address or (net.version == 4 and gw == net.broadcast_address):
        raise BadRequest(f"Invalid input for operation: Gateway IP {gw} is not in subnet {net}.", code="InvalidInput")
    return gw


def _nameservers(values: dict[str, Any], version: int) -> list[str]:
    servers = v.string_list(values, "dns_nameservers")
    for server in servers:
        ip = ipam.parse_ip(server, "dns_nameservers")
        if ip.version != version:
            raise v.invalid("dns_nameservers", server, f"'{server}' is not an IPv{version} address")
    if len(set(servers)) != len(servers):
        raise v.invalid("dns_nameservers", servers, "duplicate nameserver")
    return servers


def _host_routes(values: dict[str, Any], net: ipam.IPNetwork) -> list[dict[str, str]]:
    routes = values.get("host_routes") or []
    if not isinstance(routes, list):
        raise v.invalid("host_routes", routes, "must be a list")
    out = []
    for route in routes:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise v.invalid("host_routes", route, "each route needs destination and nexthop")
        try:
            dest = ipaddress.ip_network(route["destination"])
        except (ValueError, TypeError):
            raise v.invalid("host_routes", route, f"'{route['destination']}' is not a valid CIDR") from None
        hop = ipam.parse_ip(route["nexthop"], "host_routes")
        if dest.version != net.version or hop.version != net.version:
            raise v.invalid("host_routes", route, f"route is not IPv{net.version}")
        out.append({"destination": str(dest), "nexthop": str(hop)})
    return out


def _check_ipv6_modes(ra_mode: str | None, address_mode: str | None, net: Any) -> None:
    """Neutron's checks: both modes, when both are set, agree; SLAAC and DHCPv6-stateless
    addresses are EUI-64, so their subnet is a /64."""
    if ra_mode and address_mode and ra_mode != address_mode:
        raise BadRequest(
            f"Invalid input for operation: ipv6_ra_mode set to '{ra_mode}' with ipv6_address_mode set to "
            f"'{address_mode}' is not valid. If both attributes are set, they must be the same value.",
            code="InvalidInput",
        )
    auto = {ra_mode, address_mode} & set(ipam.AUTO_ADDRESS_MODES)
    if auto and net is not None and net.prefixlen != 64:
        raise BadRequest(
            f"Invalid input for operation: Invalid CIDR {net} for IPv6 address mode. OpenStack uses the EUI-64 "
            "address format, which requires the prefix to be /64.",
            code="InvalidInput",
        )


def _address_existing_ports(session: Session, network: Any, subnet: SubnetRecord) -> None:
    """A new auto-address subnet gives every port already on the network (but a router's) its
    EUI-64 address there, as Neutron does."""
    for port in session.scalars(select(PortRecord).where(PortRecord.network_id == network.id)):
        if port.device_owner.startswith("network:router"):
            continue
        address = str(ipam.eui64_address(subnet.cidr, port.mac_address))
        session.add(IpAllocationRecord(port_id=port.id, subnet_id=subnet.id, ip_address=address, network_id=network.id))
        port.revision_number += 1


class SubnetManager:
    def __init__(self, runtime: Any, service: Any) -> None:
        self.runtime = runtime
        self.service = service

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "subnet")
        v.only(values, SUBNET_FIELDS)
        use_default_pool = v.boolean(values, "use_default_subnetpool", False)
        pool_id = values.get("subnetpool_id")
        from_pool = bool(pool_id) or use_default_pool
        if not from_pool and "cidr" not in values:
            raise BadRequest(
                "Invalid input for operation: a cidr must be specified in the absence of a subnet pool.",
                code="InvalidInput",
            )
        if not from_pool and values.get("prefixlen") is not None:
            raise BadRequest(
                "Invalid input for operation: prefixlen is only used with a subnet pool.", code="InvalidInput"
            )
        version = v.integer(values.get("ip_version", 4), "ip_version", 4, 6)
        if version not in (4, 6):
            raise v.invalid("ip_version", version, f"'{version}' is not in [4, 6]")
        fixed_net = None if from_pool else ipam.parse_cidr(values["cidr"], version)
        nameservers = _nameservers(values, version)
        for mode_field in ("ipv6_ra_mode", "ipv6_address_mode"):
            if values.get(mode_field) not in IPV6_MODES or (version == 4 and values.get(mode_field)):
                raise v.invalid(mode_field, values.get(mode_field), "not a valid IPv6 mode for this subnet")
        _check_ipv6_modes(values.get("ipv6_ra_mode"), values.get("ipv6_address_mode"), fixed_net)
        name = v.string(values, "name")
        description = v.string(values, "description", max_len=1024)
        enable_dhcp = v.boolean(values, "enable_dhcp", True)
        network_id = values.get("network_id")
        project_id = owner_project(ctx, values)
        self.service.quotas.prepare(project_id)

        def work(session: Session, attempt: int) -> tuple[dict[str, Any], str]:
            network = get_network(session, ctx, network_id)
            if not ctx.is_admin and network.project_id != ctx.project_id:
                raise Forbidden(
                    f"Not allowed to add a subnet to network {network_id} of another project.",
                    code="PolicyNotAuthorized",
                )
            pool = None
            if from_pool:
                pool = (
                    subnetpools.get_pool(session, ctx, pool_id, lock=True)
                    if pool_id
                    else subnetpools.default_pool(session, ctx, version)
                )
                if pool.ip_version != version:
                    raise BadRequest(
                        f"Invalid input for operation: ip_version {version} does not match subnet pool "
                        f"{pool.id} (IPv{pool.ip_version}).",
                        code="InvalidInput",
                    )
                net = subnetpools.allocate(session, pool, values.get("cidr"), values.get("prefixlen"))
            elif fixed_net is not None:
                net = fixed_net
            gateway = _gateway(values, net)
            pools = (
                ipam.validate_pools(net, values["allocation_pools"], gateway)
                if values.get("allocation_pools")
                else ipam.default_pools(net, gateway)
            )
            routes = _host_routes(values, net)
            for other in network.subnets:
                if ipaddress.ip_network(other.cidr).overlaps(net):
                    raise BadRequest(
                        f"Invalid input for operation: Requested subnet with cidr: {net} for network: "
                        f"{network.id} overlaps with another subnet.",
                        code="InvalidInput",
                    )
            subnet = SubnetRecord(
                project_id=project_id,
                network_id=network.id,
                name=name,
                description=description,
                ip_version=net.version,
                cidr=str(net),
                gateway_ip=str(gateway) if gateway else None,
                enable_dhcp=enable_dhcp,
                dns_nameservers=nameservers,
                host_routes=routes,
                allocation_pools=pools,
                ipv6_ra_mode=values.get("ipv6_ra_mode"),
                ipv6_address_mode=values.get("ipv6_address_mode"),
                subnetpool_id=pool.id if pool else None,
            )
            _check_ipv6_modes(subnet.ipv6_ra_mode, subnet.ipv6_address_mode, net)
            session.add(subnet)
            session.flush()
            if ipam.is_auto_address(subnet):
                _address_existing_ports(session, network, subnet)
            network.revision_number += 1
            self.service.quotas.check(session, project_id, "subnet")
            return subnet_view(subnet), network.id

        view, net_id = run_in_transaction(self.runtime.db, work)
        self.service.plumbing.sync_network(net_id)
        return view

    def get(self, ctx: RequestContext, subnet_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            return subnet_view(get_subnet(s, ctx, subnet_id))

    def list(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            return [subnet_view(sub) for sub in list_visible(s, ctx, SubnetRecord)]

    def update(self, ctx: RequestContext, subnet_id: str, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "subnet")
        v.only(values, UPDATABLE)
        with self.runtime.db.session() as s:
            sub = get_subnet(s, ctx, subnet_id, write=True)
            net = ipaddress.ip_network(sub.cidr)
            if "name" in values:
                sub.name = v.string(values, "name")
            if "description" in values:
                sub.description = v.string(values, "description", max_len=1024)
            if "enable_dhcp" in values:
                sub.enable_dhcp = v.boolean(values, "enable_dhcp", True)
            if "dns_nameservers" in values:
                sub.dns_nameservers = _nameservers(values, sub.ip_version)
            if "host_routes" in values:
                sub.host_routes = _host_routes(values, net)
            gateway = (
                _gateway(values, net)
                if "gateway_ip" in values
                else (ipaddress.ip_address(sub.gateway_ip) if sub.gateway_ip else None)
            )
            if "allocation_pools" in values:
                sub.allocation_pools = ipam.validate_pools(net, values["allocation_pools"], gateway)
            elif "gateway_ip" in values and gateway is not None:
                ipam.validate_pools(net, sub.allocation_pools, gateway)
            sub.gateway_ip = str(gateway) if gateway else None
            sub.revision_number += 1
            s.flush()
            view, net_id = subnet_view(sub), sub.network_id
        self.service.plumbing.sync_network(net_id)
        return view

    def delete(self, ctx: RequestContext, subnet_id: str) -> None:
        with self.runtime.db.session() as s:
            sub = get_subnet(s, ctx, subnet_id, write=True)
            allocations = list(s.scalars(select(IpAllocationRecord).where(IpAllocationRecord.subnet_id == subnet_id)))
            owners = {a.port_id: s.get(PortRecord, a.port_id) for a in allocations}
            if ipam.is_auto_address(sub):
                # addresses derived from the ports' MACs go with the subnet (Neutron's auto-address
                # subnets); only a router interface on it keeps it
                for allocation in allocations:
                    owner = owners[allocation.port_id]
                    if owner is not None and owner.device_owner not in ("network:dhcp", "network:router_interface"):
                        s.delete(allocation)
                        owners.pop(allocation.port_id)
                        owner.revision_number += 1
            if any(p.device_owner != "network:dhcp" for p in owners.values()):
                raise Conflict(
                    f"Unable to complete operation on subnet {subnet_id}: One or more ports have an IP "
                    "allocation from this subnet.",
                    code="SubnetInUse",
                )
            for port in owners.values():
                s.delete(port)  # the DHCP port; re-made on the remaining subnets by sync
            s.flush()
            net_id = sub.network_id
            s.delete(sub)
        self.service.plumbing.sync_network(net_id)
