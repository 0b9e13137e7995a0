"""Fixtures for the linuxbridge driver's tests: the driver routed through a plugin manager."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overcast.plugins import PluginManager
from overcast.types import Backend, DriverKind

from overcast_net_linuxbridge import plugin

# a module of its own: test modules import these too, and ``conftest`` is not a unique name
from linuxbridge_rig import Rig, _scrub  # noqa: E402


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
    return Backend(
        DriverKind.NETWORK,
        "network",
        "linuxbridge",
        {
            "vteps": [],
            "vxlan_port": 4789,
            "physical_interface_mappings": [],
            "dhcp_lease_time": 600,
            "vxlan_interface": "",
        },
        str(tmp_path / "network"),
    )


@pytest.fixture
def rig(tmp_path: Path, overcast_pm: Any) -> Any:
    from overcast.agent import start_local_agents
    from overcast.config import parse_config
    from overcast.runtime import build_runtime
    from overcast.testing.fixtures import fake_config_data

    overcast_pm.register_plugin(plugin, name="net_linuxbridge")
    data = fake_config_data(tmp_path, hosts=1)
    data["network"] = {"driver": "linuxbridge", "dhcp_lease_time": 600}
    config = parse_config(data, tmp_path / "overcast.toml")
    runtime = build_runtime(config, pm=overcast_pm)
    start_local_agents(runtime)
    runtime.network.plumbing.strict = True
    runtime.network.start()
    rig = Rig(runtime, tmp_path)
    try:
        yield rig
    finally:
        rig.close()
        _scrub(runtime)
        runtime.close()
