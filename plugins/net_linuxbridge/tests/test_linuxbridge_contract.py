"""The network driver contract, run against real bridges, namespaces, dnsmasq and iptables."""

from __future__ import annotations

import pytest

from overcast.testing.contract import NetworkContract

pytestmark = [pytest.mark.root, pytest.mark.netns]


class TestLinuxBridgeContract(NetworkContract):
    pass
