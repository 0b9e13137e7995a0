"""Fixtures for the haproxy driver's tests: the driver routed through a plugin manager."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overcast.plugins import PluginManager
from overcast.types import Backend, DriverKind

from overcast_lb_haproxy import plugin


@pytest.fixture
def haproxy_pm() -> PluginManager:
    pm = PluginManager()
    pm.register_plugin(plugin, name="lb_haproxy")
    pm.check_pending()
    return pm


@pytest.fixture
def driver(haproxy_pm: PluginManager) -> Any:
    return haproxy_pm.driver("loadbalancer", "haproxy")


@pytest.fixture
def target(tmp_path: Path) -> Backend:
    tmp_path.chmod(0o755)
    return Backend(
        DriverKind.LOADBALANCER,
        "loadbalancer",
        "haproxy",
        {"haproxy": "haproxy", "user": "haproxy", "maxconn": 1000},
        str(tmp_path / "loadbalancer"),
    )
