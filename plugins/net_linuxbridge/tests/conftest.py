"""Fixtures for the linuxbridge driver's tests: the driver routed through a plugin manager."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overcast.plugins import PluginManager
from overcast.types import Backend, DriverKind

from overcast_net_linuxbridge import plugin


@pytest.fixture
def lb_pm() -> PluginManager:
    pm = PluginManager()
    pm.register_plugin(plugin, name="net_linuxbridge")
    pm.check_pending()
    return pm


@pytest.fixture
def driver(lb_pm: PluginManager) -> Any:
    return lb_pm.driver("network", "linuxbridge")


@pytest.fixture
def target(tmp_path: Path) -> Backend:
    return Backend(DriverKind.NETWORK, "network", "linuxbridge",
                   {"vteps": [], "vxlan_port": 4789, "physical_interface_mappings": [], "dhcp_lease_time": 600,
                    "vxlan_interface": ""}, str(tmp_path / "network"))
