"""The outside world for end-to-end tests: a namespace on an external network's bridge, with
the external subnet's gateway address, that fetches URLs as a client on the internet would."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from overcast.testing.netns import http_get_in_netns

WORLD = "172.24.61.1"  # the external subnet's gateway address, taken by the world's namespace
EXT_CIDR = "172.24.61.0/24"


def create_external_network(cloud: Any) -> dict[str, Any]:
    """The flat external network ``public`` (physical network ``public``) with the subnet
    ``public-sub`` on :data:`EXT_CIDR`, no DHCP, the world as its gateway; made with the CLI."""
    ext = cloud.openstack(
        "network",
        "create",
        "--external",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "public",
        "public",
        "-f",
        "json",
    )
    cloud.openstack(
        "subnet",
        "create",
        "--network",
        "public",
        "--subnet-range",
        EXT_CIDR,
        "--gateway",
        WORLD,
        "--no-dhcp",
        "public-sub",
        "-f",
        "json",
    )
    return dict(ext)


class World:
    """A namespace on the external network's bridge, with the external subnet's gateway address."""

    def __init__(self, bridge: str) -> None:
        self.ns = f"oce2e-world-{os.getpid()}"
        self.veth = f"ocew{os.getpid() % 100000}"
        run = lambda *a: subprocess.run(["ip", *a], check=True, capture_output=True)  # noqa: E731
        run("netns", "add", self.ns)
        run("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        run("link", "set", self.veth, "master", bridge, "up")
        run("-n", self.ns, "link", "set", "lo", "up")
        run("-n", self.ns, "link", "set", "eth0", "up")
        run("-n", self.ns, "addr", "add", f"{WORLD}/24", "dev", "eth0")

    def get(self, url_host: str, path: str = "/") -> tuple[int, str, str]:
        """(status, Location header, body) of one GET from outside; (0, "", error) on failure."""
        return http_get_in_netns(self.ns, url_host, path)

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
