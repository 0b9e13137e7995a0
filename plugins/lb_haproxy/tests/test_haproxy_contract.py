"""The load-balancer contract against real haproxy processes in network namespaces (the VIP
on a veth inside the namespace, as ``net_plug_namespace`` would leave it)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from overcast.testing.contract import LoadBalancerContract
from overcast.testing.contract.loadbalancer import Plugger
from overcast.testing.contract.network import sample_network, sample_port
from overcast.types import Network, Port

pytestmark = [pytest.mark.root, pytest.mark.netns]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class TestHaproxyContract(LoadBalancerContract):
    @pytest.fixture
    def namespace_factory(self) -> Iterator[Plugger]:
        made: list[str] = []

        def plug(namespace: str) -> tuple[str, Port, Network]:
            _ip("netns", "add", namespace)
            made.append(namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
            # no dummy devices on this kernel: a veth pair with both ends inside
            _ip("-n", namespace, "link", "add", "vip0", "type", "veth", "peer", "name", "vip1")
            _ip("-n", namespace, "link", "set", "vip1", "up")
            _ip("-n", namespace, "addr", "add", "10.231.0.10/24", "dev", "vip0")
            _ip("-n", namespace, "link", "set", "vip0", "up")
            network = sample_network()
            return "10.231.0.10", sample_port(network), network

        yield plug
        for namespace in made:
            subprocess.run(["ip", "netns", "del", namespace], check=False)
