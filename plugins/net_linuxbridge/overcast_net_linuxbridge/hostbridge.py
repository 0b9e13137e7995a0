"""Host bridges: a bridge the driver makes on each host with an address of the host's own,
such as DevStack's ``br-ex`` carrying ``172.24.4.1/24`` (issue 17). A flat network whose
``physical_interface_mappings`` entry names one is patched into it by a veth pair (a bridge
cannot be a port of another bridge), so the host itself is on that network: floating IPs
answer from the host, and from nowhere else unless the operator bridges a real NIC in.
"""

from __future__ import annotations

import ipaddress

from overcast.errors import ConfigError

from overcast_net_linuxbridge import links, names
from overcast_net_linuxbridge.cmd import run


def parse(entries: list[str] | None) -> dict[str, str]:
    """``["br-ex=172.24.4.1/24"]`` -> ``{"br-ex": "172.24.4.1/24"}`` (validated)."""
    out = {}
    for entry in entries or []:
        name, found, cidr = str(entry).partition("=")
        try:
            ipaddress.ip_interface(cidr)
        except ValueError:
            found = ""
        if not found or not name or len(name) > 15 or names.is_ours(name):
            raise ConfigError(f"[network] host_bridges: entry {entry!r} must look like 'br-ex=172.24.4.1/24'")
        out[name] = cidr
    return out


def ensure(name: str, cidr: str, mtu: int = 1500) -> None:
    links.ensure_bridge(name, mtu)
    run(["ip", "addr", "replace", cidr, "dev", name])


def remove(name: str) -> None:
    links.delete_link(name)


def patch(network_id: str, host_bridge: str, network_bridge: str, mtu: int) -> None:
    """The veth pair joining the network's bridge to the host bridge."""
    ours, theirs = names.patch_veth(network_id)
    if not links.link_exists(ours):
        run(["ip", "link", "add", ours, "mtu", str(mtu), "type", "veth", "peer", "name", theirs, "mtu", str(mtu)])
    links.attach(ours, network_bridge)
    links.attach(theirs, host_bridge)


def unpatch(network_id: str) -> None:
    links.delete_link(names.patch_veth(network_id)[0])  # takes its peer with it
