"""Routers: a namespace per router, veths into the networks' bridges, NAT by iptables.

Inside ``ocn-router-<id>``: ``qr-*`` interfaces carry the subnets' gateway addresses,
``qg-*`` carries the external gateway address plus each floating IP (/32, so the namespace
answers ARP for it). The nat table is replaced whole on every setup (the namespace is
ours alone): DNAT floating IP -> fixed IP, SNAT fixed IP -> its floating IP on the way out,
and, with ``enable_snat``, SNAT of the internal subnets to the gateway address.
"""

from __future__ import annotations

import ipaddress

from overcast.types import Router

from overcast_net_linuxbridge import links, names
from overcast_net_linuxbridge.cmd import run


def _prefixed(address: str, cidr: str) -> str:
    return f"{address}/{ipaddress.ip_network(cidr).prefixlen}"


def nat_rules(router: Router) -> list[str]:
    if router.external_port is None or router.external_gateway_ip is None:
        return []
    out = names.gateway_inner(router.external_port.id)
    rules = []
    for fip in router.floating_ips:
        if fip.fixed_ip_address:
            rules.append(
                f"-A PREROUTING -d {fip.floating_ip_address}/32 -j DNAT --to-destination {fip.fixed_ip_address}"
            )
            rules.append(f"-A OUTPUT -d {fip.floating_ip_address}/32 -j DNAT --to-destination {fip.fixed_ip_address}")
            rules.append(
                f"-A POSTROUTING -s {fip.fixed_ip_address}/32 -o {out} -j SNAT --to-source {fip.floating_ip_address}"
            )
    if router.enable_snat:
        for iface in router.interfaces:
            if iface.subnet.ip_version == 4:
                rules.append(
                    f"-A POSTROUTING -s {iface.subnet.cidr} -o {out} -j SNAT --to-source {router.external_gateway_ip}"
                )
    return rules


def setup(router: Router, extra_nat: list[str] | None = None) -> None:
    """Plumb the router; ``extra_nat`` are more nat rules (the metadata proxy's redirect)."""
    ns = names.router_namespace(router.id)
    links.ensure_namespace(ns)
    run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], namespace=ns)
    run(["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"], namespace=ns)
    wanted: set[str] = {"lo"}
    by_port: dict[str, list[str]] = {}
    for iface in router.interfaces:
        by_port.setdefault(iface.port.id, []).append(
            _prefixed(
                next(ip.ip_address for ip in iface.port.fixed_ips if ip.subnet_id == iface.subnet.id), iface.subnet.cidr
            )
        )
    for iface in router.interfaces:
        inner = names.router_inner(iface.port.id)
        if inner in wanted:
            continue
        wanted.add(inner)
        bridge = names.bridge(iface.port.network_id)
        links.ensure_veth(
            names.router_veth(iface.port.id), inner, ns, bridge, links.mtu_of(bridge), iface.port.mac_address
        )
        links.set_addresses(ns, inner, by_port[iface.port.id])
    if router.external_port is not None and router.external_network is not None:
        ext = router.external_network
        inner = names.gateway_inner(router.external_port.id)
        wanted.add(inner)
        links.ensure_veth(
            names.gateway_veth(router.external_port.id),
            inner,
            ns,
            names.bridge(ext.id),
            ext.mtu,
            router.external_port.mac_address,
        )
        subnets = {s.id: s for s in ext.subnets}
        cidrs = [
            _prefixed(ip.ip_address, subnets[ip.subnet_id].cidr)
            for ip in router.external_port.fixed_ips
            if ip.subnet_id in subnets
        ]
        cidrs += [f"{f.floating_ip_address}/32" for f in router.floating_ips if f.fixed_ip_address]
        links.set_addresses(ns, inner, cidrs)
        gateway = next((s.gateway_ip for s in ext.subnets if s.ip_version == 4 and s.gateway_ip), None)
        if gateway:
            run(["ip", "-n", ns, "route", "replace", "default", "via", gateway, "dev", inner])
    for stale in set(links.inner_links(ns)) - wanted:
        run(["ip", "-n", ns, "link", "del", stale], check=False)
    for route in router.routes:
        run(["ip", "-n", ns, "route", "replace", route.destination, "via", route.nexthop])
    payload = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
    payload += "".join(rule + "\n" for rule in [*(extra_nat or []), *nat_rules(router)]) + "COMMIT\n"
    run(["iptables-restore", "-w"], input=payload, namespace=ns)


def teardown(router: Router) -> None:
    ns = names.router_namespace(router.id)
    links.delete_namespace(ns)  # takes the inner ends, and with them the host ends of the veths
    for iface in router.interfaces:
        links.delete_link(names.router_veth(iface.port.id))
    if router.external_port is not None:
        links.delete_link(names.gateway_veth(router.external_port.id))
