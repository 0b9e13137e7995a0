"""Every kernel object this driver makes, named from the resource's id with the ``ocn``
prefix, so that ours are recognisable (``net_list_resources``, leak checks) and never
collide with anyone else's. Interface names stay within Linux's 15 characters."""

from __future__ import annotations

PREFIX = "ocn"


def short(resource_id: str, length: int = 10) -> str:
    return resource_id.replace("-", "")[:length]


def bridge(network_id: str) -> str:
    return f"{PREFIX}b{short(network_id)}"


def vxlan(network_id: str) -> str:
    return f"{PREFIX}x{short(network_id)}"


def tap(port_id: str) -> str:
    """The guest's interface on the host (the hypervisor creates it with this name)."""
    return f"{PREFIX}t{short(port_id)}"


def dhcp_veth(network_id: str) -> str:
    return f"{PREFIX}d{short(network_id)}"


def router_veth(port_id: str) -> str:
    return f"{PREFIX}r{short(port_id)}"


def gateway_veth(port_id: str) -> str:
    return f"{PREFIX}g{short(port_id)}"


def patch_veth(network_id: str) -> tuple[str, str]:
    """The veth pair patching a flat network's bridge into a host bridge (network end, host-bridge end)."""
    return f"{PREFIX}p{short(network_id)}", f"{PREFIX}q{short(network_id)}"


def dhcp_namespace(network_id: str) -> str:
    return f"{PREFIX}-dhcp-{network_id}"


def router_namespace(router_id: str) -> str:
    return f"{PREFIX}-router-{router_id}"


# inside a namespace of ours the names need no prefix
DHCP_INNER = "dhcp0"
SERVICE_INNER = "vip0"  # a port plugged into a service's namespace (net_plug_namespace)


def router_inner(port_id: str) -> str:
    return f"qr-{short(port_id, 11)}"


def gateway_inner(port_id: str) -> str:
    return f"qg-{short(port_id, 11)}"


# iptables chains (filter table of the host)
TOP_CHAIN = f"{PREFIX}-FORWARD"
EGRESS_CHAIN = f"{PREFIX}-egress"
INGRESS_CHAIN = f"{PREFIX}-ingress"


def port_chains(port_id: str) -> tuple[str, str, str]:
    """(egress, ingress, anti-spoofing) chains of one port."""
    s = short(port_id)
    return f"{PREFIX}-o{s}", f"{PREFIX}-i{s}", f"{PREFIX}-s{s}"


def is_ours(name: str) -> bool:
    return name.startswith(PREFIX)
