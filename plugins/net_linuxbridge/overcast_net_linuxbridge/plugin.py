"""Entry point: registers the ``linuxbridge`` network driver and its options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from overcast.hookspecs import hookimpl
from overcast.types import ConfigOption, DriverKind

from overcast_net_linuxbridge.driver import LinuxBridgeDriver

NAME = "linuxbridge"

OPTIONS = [
    ConfigOption(
        DriverKind.NETWORK,
        NAME,
        "vteps",
        list,
        [],
        help="VXLAN tunnel endpoints as 'host=ip' entries; a host uses its own as the local address and "
        "floods to the others by unicast (no multicast)",
    ),
    ConfigOption(DriverKind.NETWORK, NAME, "vxlan_interface", str, "", help="underlay device for VXLAN traffic"),
    ConfigOption(DriverKind.NETWORK, NAME, "vxlan_port", int, 4789, help="VXLAN UDP port"),
    ConfigOption(
        DriverKind.NETWORK,
        NAME,
        "physical_interface_mappings",
        list,
        [],
        help="'physnet:interface' entries: the host interface each flat network's bridge joins",
    ),
    ConfigOption(DriverKind.NETWORK, NAME, "dhcp_lease_time", int, 86400, help="DHCP lease time in seconds"),
    ConfigOption(
        DriverKind.NETWORK,
        NAME,
        "host_bridges",
        list,
        [],
        help="'bridge=address/prefix' entries: bridges made on each host with that address (DevStack's "
        "'br-ex=172.24.4.1/24'); a flat network mapped to one is patched into it, so the host reaches it",
    ),
]


@hookimpl
def overcast_register_drivers(registry: Any) -> None:
    registry.add(
        DriverKind.NETWORK,
        NAME,
        LinuxBridgeDriver(),
        "Linux bridges and VXLAN, dnsmasq and routers in namespaces, iptables security groups",
    )


@hookimpl
def overcast_add_config_options() -> Sequence[ConfigOption]:
    return OPTIONS
