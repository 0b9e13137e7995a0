"""ARP anti-spoofing with ebtables (bridge family): a port may only claim its own addresses.

iptables never sees ARP, so a guest could otherwise answer or announce another guest's
address. Per port, chain ``ocn-a<port10>`` lets ARP through only with the port's MAC and
one of its IPv4 addresses (or allowed pairs, or ``0.0.0.0`` for address probes) and drops
the rest; ``FORWARD`` sends the port's frames (``-i`` its tap) there.
"""

from __future__ import annotations

import ipaddress

from overcast.types import Port

from overcast_net_linuxbridge import names
from overcast_net_linuxbridge.cmd import run


def chain(port_id: str) -> str:
    return f"{names.PREFIX}-a{names.short(port_id)}"


def _jumps(target: str) -> list[str]:
    lines = run(["ebtables", "-L", "FORWARD"]).stdout.splitlines()
    return [line for line in lines if line.strip().endswith(f"-j {target}")]


def apply(port: Port) -> None:
    name, tap = chain(port.id), names.tap(port.id)
    if name not in our_chains():
        run(["ebtables", "-N", name, "-P", "RETURN"])
    run(["ebtables", "-F", name])
    sources = [
        (ip.ip_address, port.mac_address) for ip in port.fixed_ips if ipaddress.ip_address(ip.ip_address).version == 4
    ]
    sources += [
        (ip, mac) for ip, mac in port.allowed_address_pairs if ipaddress.ip_network(ip, strict=False).version == 4
    ]
    sources.append(("0.0.0.0", port.mac_address))
    for ip, mac in sources:
        run(["ebtables", "-A", name, "-p", "ARP", "--arp-ip-src", ip, "--arp-mac-src", mac, "-j", "RETURN"])
    run(["ebtables", "-A", name, "-p", "ARP", "-j", "DROP"])
    if not _jumps(name):
        run(["ebtables", "-A", "FORWARD", "-i", tap, "-j", name])


def remove(port_id: str) -> None:
    name, tap = chain(port_id), names.tap(port_id)
    for _ in _jumps(name):
        run(["ebtables", "-D", "FORWARD", "-i", tap, "-j", name], check=False)
    if name in our_chains():
        run(["ebtables", "-F", name], check=False)
        run(["ebtables", "-X", name], check=False)


def our_chains() -> list[str]:
    out = run(["ebtables", "-L"]).stdout.splitlines()
    found = [line.split(":", 1)[1].split(",")[0].strip() for line in out if line.startswith("Bridge chain:")]
    return sorted(c for c in found if names.is_ours(c))
