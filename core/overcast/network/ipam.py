"""IP address management: subnet validation and address allocation, in the database.

An address belongs to a port through a ``network_ip_allocations`` row whose primary key is
``(subnet_id, ip_address)``. Picking a free address is optimistic: read what is taken,
insert the first free candidate, and let the primary key refuse a racing twin; the caller's
transaction is retried (:func:`overcast.network.db.run_in_transaction`) and picks again.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db.models.network import IpAllocationRecord, SubnetRecord
from overcast.errors import BadRequest, Conflict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_cidr(cidr: Any, ip_version: int | None = None) -> IPNetwork:
    """A subnet CIDR as Neutron accepts it: no host bits, the right version, room for hosts."""
    if not isinstance(cidr, str):
        raise BadRequest(f"Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet.", code="InvalidInput")
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise BadRequest(
            f"Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet.", code="InvalidInput"
        ) from None
    if net.network_address != ipaddress.ip_interface(cidr).ip:
        raise BadRequest(
            f"Invalid input for cidr. Reason: '{cidr}' isn't a recognized IP subnet cidr, '{net}' is recommended.",
            code="InvalidInput",
        )
    if ip_version is not None and net.version != ip_version:
        raise BadRequest(
            f"Invalid input for operation: cidr {cidr} is not an IPv{ip_version} network.", code="InvalidInput"
        )
    if net.prefixlen >= net.max_prefixlen - (1 if net.version == 4 else 0):
        raise BadRequest(f"Invalid input for operation: cidr {cidr} has no room for hosts.", code="InvalidInput")
    return net


def parse_ip(value: Any, field: str = "ip_address") -> IPAddress:
    try:
        return ipaddress.ip_address(value)
    except (ValueError, TypeError):
        raise BadRequest(
            f"Invalid input for {field}. Reason: '{value}' is not a valid IP address.", code="InvalidInput"
        ) from None


def first_host(net: IPNetwork) -> IPAddress:
    return net.network_address + 1


def last_host(net: IPNetwork) -> IPAddress:
    return net.broadcast_address - 1 if net.version == 4 else net.broadcast_address


#: IPv6 address modes where a port's address is derived from its MAC (SLAAC, EUI-64), not picked
AUTO_ADDRESS_MODES = ("slaac", "dhcpv6-stateless")


def is_auto_address(subnet: SubnetRecord) -> bool:
    """An IPv6 subnet whose ports get their EUI-64 address (Neutron's auto-address subnet)."""
    return subnet.ip_version == 6 and subnet.ipv6_address_mode in AUTO_ADDRESS_MODES


def eui64_address(cidr: str, mac: str) -> IPAddress:
    """The SLAAC address of ``mac`` in a /64: the prefix, then the MAC split by ``ff:fe`` with
    its universal/local bit flipped (RFC 4291 appendix A)."""
    value = int(mac.replace(":", "").replace("-", ""), 16)
    interface_id = ((value >> 24) << 40) | (0xFFFE << 24) | (value & 0xFFFFFF)
    interface_id ^= 1 << 57
    return ipaddress.ip_address(int(ipaddress.ip_network(cidr).network_address) | interface_id)


def is_usable(ip: IPAddress, net: IPNetwork) -> bool:
    """Inside the subnet, and not its network or (IPv4) broadcast address."""
    return ip in net and first_host(net) <= ip <= last_host(net)  # type: ignore[operator]  # ip in net: same IP version


def default_pools(net: IPNetwork, gateway: IPAddress | None) -> list[dict[str, str]]:
    """Every usable address except the gateway, as Neutron computes it."""
    start, end = first_host(net), last_host(net)
    if gateway is None or not start <= gateway <= end:  # type: ignore[operator]  # a gateway is validated inside its subnet
        return [{"start": str(start), "end": str(end)}]
    pools = []
    if gateway > start:  # type: ignore[operator]
        pools.append({"start": str(start), "end": str(gateway - 1)})
    if gateway < end:  # type: ignore[operator]
        pools.append({"start": str(gateway + 1), "end": str(end)})
    return pools


def validate_pools(net: IPNetwork, pools: Any, gateway: IPAddress | None) -> list[dict[str, str]]:
    """Explicit ``allocation_pools``: inside the subnet, ordered, disjoint, clear of the gateway."""
    if not isinstance(pools, list):
        raise BadRequest("Invalid input for allocation_pools. Reason: must be a list.", code="InvalidInput")
    ranges: list[tuple[IPAddress, IPAddress]] = []
    for pool in pools:
        if not isinstance(pool, dict) or "start" not in pool or "end" not in pool:
            raise BadRequest(
                "Invalid input for allocation_pools. Reason: each pool needs start and end.", code="InvalidInput"
            )
        start, end = parse_ip(pool["start"], "allocation_pools"), parse_ip(pool["end"], "allocation_pools")
        if not (is_usable(start, net) and is_usable(end, net)) or start > end:  # type: ignore[operator]  # both usable in net: same IP version
            raise BadRequest(
                f"The allocation pool {pool['start']}-{pool['end']} spans beyond the subnet cidr {net}.",
                code="OutOfBoundsAllocationPool",
            )
        ranges.append((start, end))
    ranges.sort()
    for (_, end_a), (start_b, end_b) in zip(ranges, ranges[1:]):
        if start_b <= end_a:  # type: ignore[operator]  # all pools are inside net: one IP version
            raise BadRequest(
                f"Found overlapping allocation pools: {start_b}-{end_b} and another pool.",
                code="OverlappingAllocationPools",
            )
    if gateway is not None and any(s <= gateway <= e for s, e in ranges):  # type: ignore[operator]
        raise Conflict(
            f"Gateway ip {gateway} conflicts with allocation pool.", code="GatewayConflictWithAllocationPools"
        )
    return [{"start": str(s), "end": str(e)} for s, e in ranges]


def pool_ranges(subnet: SubnetRecord) -> list[tuple[IPAddress, IPAddress]]:
    return [(ipaddress.ip_address(p["start"]), ipaddress.ip_address(p["end"])) for p in subnet.allocation_pools]


def _free_candidates(subnet: SubnetRecord, taken: set[str]) -> Iterator[IPAddress]:
    for start, end in pool_ranges(subnet):
        ip = start
        while ip <= end:  # type: ignore[operator]  # a pool is inside its subnet: one IP version
            if str(ip) not in taken:
                yield ip
            ip += 1


def taken_addresses(session: Session, subnet_id: str) -> set[str]:
    return set(session.scalars(select(IpAllocationRecord.ip_address).where(IpAllocationRecord.subnet_id == subnet_id)))


def pick_free_address(
    session: Session, subnet: SubnetRecord, spread: int = 1, also_taken: Iterable[str] = ()
) -> IPAddress | None:
    """The first free pool address, or a random one among the first ``spread`` free ones
    (retries spread out so that racing allocators stop colliding). ``also_taken``: addresses
    the same request holds or asks for, not yet in the database."""
    candidates = []
    for ip in _free_candidates(subnet, taken_addresses(session, subnet.id) | set(also_taken)):
        candidates.append(ip)
        if len(candidates) >= spread:
            break
    if not candidates:
        return None
    return random.choice(candidates)


def check_requested_address(session: Session, subnet: SubnetRecord, ip: IPAddress) -> None:
    """A fixed address asked for by the user: usable in the subnet and not taken."""
    net = ipaddress.ip_network(subnet.cidr)
    if not is_usable(ip, net):
        raise BadRequest(f"IP address {ip} is not a valid IP for the specified subnet.", code="InvalidIpForSubnet")
    exists = session.get(IpAllocationRecord, (subnet.id, str(ip)))
    if exists is not None:
        raise Conflict(f"IP address {ip} already allocated in subnet {subnet.id}", code="IpAddressAlreadyAllocated")


def subnet_for_address(subnets: Sequence[SubnetRecord], ip: IPAddress) -> SubnetRecord | None:
    for subnet in subnets:
        if ip in ipaddress.ip_network(subnet.cidr):
            return subnet
    return None


def no_more_addresses(network_id: str) -> Conflict:
    return Conflict(f"No more IP addresses available on network {network_id}.", code="IpAddressGenerationFailure")
