"""Links and namespaces: bridges, VXLAN devices, veth pairs, network namespaces.

Changes go through iproute2 (``ip``, ``bridge``). Listings are cheap enough to call on every
check: the host's links by name come from ``if_nameindex(3)`` / ``if_nametoindex(3)`` (netlink
and an ioctl in this process's network namespace, through the standard library), namespaces
from ``/run/netns``; only the rare question of which device holds a VXLAN VNI asks ``ip``.
(pyroute2 did this before: importing it cost ~11 MiB in the process that runs the agent.)
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable

from overcast.errors import DriverError

from overcast_net_linuxbridge import names
from overcast_net_linuxbridge.cmd import ok, run


#: where ``ip netns add`` pins network namespaces
NETNS_DIR = "/run/netns"


def link_names() -> set[str]:
    return {name for _, name in socket.if_nameindex()}


def link_exists(name: str, namespace: str | None = None) -> bool:
    if namespace is None:
        try:
            socket.if_nametoindex(name)
        except OSError:  # ENODEV, or a name no device can have
            return False
        return True
    return ok(["ip", "-n", namespace, "link", "show", "dev", name])


def namespaces() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def namespace_exists(name: str) -> bool:
    return os.path.exists(f"{NETNS_DIR}/{name}")


def ensure_namespace(name: str) -> None:
    if not namespace_exists(name):
        run(["ip", "netns", "add", name])
    run(["ip", "-n", name, "link", "set", "lo", "up"])


def delete_namespace(name: str) -> None:
    if namespace_exists(name):
        run(["ip", "netns", "del", name])


def ensure_bridge(name: str, mtu: int) -> None:
    if not link_exists(name):
        run(["ip", "link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
    run(["ip", "link", "set", name, "mtu", str(mtu), "up"])


def ensure_vxlan(name: str, vni: int, port: int, mtu: int, local: str | None, dev: str | None) -> None:
    if not link_exists(name):
        args = ["ip", "link", "add", name, "type", "vxlan", "id", str(vni), "dstport", str(port)]
        if local:
            args += ["local", local]
        if dev:
            args += ["dev", dev]
        try:
            run(args)
        except DriverError:
            holder = vxlan_holding(vni)
            if holder is None or holder == name:
                raise
            raise DriverError(
                f"linuxbridge: VXLAN VNI {vni} is already held on this host by device {holder} "
                f"({_owner_of(holder)}), so {name} cannot have it; remove that device if its cloud is gone, "
                "or give each cloud on this host its own [networking] vni_min..vni_max range"
            ) from None
    run(["ip", "link", "set", name, "mtu", str(mtu), "up"])


def vxlan_holding(vni: int) -> str | None:
    """The name of the VXLAN device that has ``vni`` in this namespace, if any."""
    for link in json.loads(run(["ip", "-d", "-j", "link", "show", "type", "vxlan"]).stdout or "[]"):
        info = link.get("linkinfo") or {}
        if info.get("info_kind") == "vxlan" and (info.get("info_data") or {}).get("id") == vni:
            return str(link["ifname"])
    return None


def _owner_of(device: str) -> str:
    if device.startswith(f"{names.PREFIX}x"):
        return (
            f"the segment of an Overcast network whose id starts {device[len(names.PREFIX) + 1 :]}: "
            "a network of another cloud on this host, or left by a stopped one"
        )
    return "not an Overcast device"


def set_flood_peers(vxlan: str, peers: Iterable[str]) -> None:
    """Unicast head-end replication: one all-zeros FDB entry per remote VTEP (no multicast)."""
    wanted = set(peers)
    current = set()
    for line in run(["bridge", "fdb", "show", "dev", vxlan]).stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "00:00:00:00:00:00" and "dst" in parts:
            current.add(parts[parts.index("dst") + 1])
    for peer in sorted(wanted - current):
        run(["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", vxlan, "dst", peer])
    for peer in sorted(current - wanted):
        run(["bridge", "fdb", "del", "00:00:00:00:00:00", "dev", vxlan, "dst", peer], check=False)


def attach(device: str, bridge: str) -> None:
    run(["ip", "link", "set", device, "master", bridge, "up"])


def delete_link(name: str) -> None:
    if link_exists(name):
        run(["ip", "link", "del", name], check=False)


def ensure_veth(host_name: str, inner_name: str, namespace: str, bridge: str, mtu: int, mac: str | None = None) -> None:
    """A veth pair: ``host_name`` in ``bridge``, ``inner_name`` inside ``namespace`` (up)."""
    if not link_exists(inner_name, namespace):
        delete_link(host_name)  # half of an old pair
        run(
            [
                "ip",
                "link",
                "add",
                host_name,
                "mtu",
                str(mtu),
                "type",
                "veth",
                "peer",
                "name",
                inner_name,
                "netns",
                namespace,
            ]
        )
    if mac:
        run(["ip", "-n", namespace, "link", "set", inner_name, "address", mac])
    run(["ip", "-n", namespace, "link", "set", inner_name, "mtu", str(mtu), "up"])
    run(["ip", "link", "set", host_name, "mtu", str(mtu)])
    attach(host_name, bridge)


def set_addresses(namespace: str, device: str, cidrs: Iterable[str]) -> None:
    """Make ``device``'s global addresses exactly ``cidrs`` (``10.0.0.1/24`` style)."""
    wanted = set(cidrs)
    current = set()
    for line in run(
        ["ip", "-n", namespace, "-o", "addr", "show", "dev", device, "scope", "global"]
    ).stdout.splitlines():
        parts = line.split()
        if "inet" in parts or "inet6" in parts:
            key = "inet" if "inet" in parts else "inet6"
            current.add(parts[parts.index(key) + 1])
    for cidr in sorted(current - wanted):
        run(["ip", "-n", namespace, "addr", "del", cidr, "dev", device], check=False)
    for cidr in sorted(wanted - current):
        run(["ip", "-n", namespace, "addr", "add", cidr, "dev", device])


def inner_links(namespace: str) -> list[str]:
    out = run(["ip", "-n", namespace, "-o", "link", "show"]).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def mtu_of(device: str) -> int:
    """A host device's MTU (a network's bridge carries the network's MTU). Asked over
    netlink, not /sys: sysfs shows the devices of the namespace it was mounted in, which is
    not this process's when the agent runs in a network namespace of its own."""
    proc = run(["ip", "-o", "link", "show", "dev", device], check=False)
    fields = proc.stdout.split()
    if proc.returncode != 0 or "mtu" not in fields:
        from overcast.errors import DriverError

        raise DriverError(f"linuxbridge: {device} does not exist (is the network set up on this host?)")
    return int(fields[fields.index("mtu") + 1])
