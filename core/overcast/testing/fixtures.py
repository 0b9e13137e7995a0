"""Fixtures for driver authors and the core's tests (exported by the pytest plugin)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.config import Config, parse_config
from overcast.plugins import PluginManager
from overcast.testing.fakes import FakeDriversPlugin

from overcast.testing.cloud import cloud, running_cloud, running_cloud_config, running_cloud_tls  # noqa: E402 - documented there

__all__ = [
    "fake_drivers",
    "overcast_pm",
    "overcast_config",
    "overcast_runtime",
    "fake_config_data",
    "cloud",
    "running_cloud",
    "running_cloud_config",
    "running_cloud_tls",
    "migrated_sqlite_template",
    "qemu_img",
]


def fake_config_data(data_dir: Path, hosts: int = 1) -> dict[str, Any]:
    """Config data for an all-fake cloud with ``hosts`` fake hosts, SQLite in ``data_dir``."""
    return {
        "data_dir": str(data_dir),
        "api": {"port": 0},
        "identity": {"password_hash_time_cost": 1, "password_hash_memory_kib": 1024},
        "hosts": {f"fake{i}": {"driver": "fake"} for i in range(1, hosts + 1)},
        "volume_backends": {"fake": {"driver": "fake"}},
        "image_store": {"driver": "fake"},
        "object_store": {"driver": "fake"},
        "network": {"driver": "fake"},
        "backup": {"driver": "fake"},
        "loadbalancer": {"driver": "fake"},
    }


@pytest.fixture
def fake_drivers() -> FakeDriversPlugin:
    """The fake drivers' plugin object: inspect ``.hypervisor.guests`` etc. in tests."""
    return FakeDriversPlugin()


@pytest.fixture
def overcast_pm(fake_drivers: FakeDriversPlugin) -> PluginManager:
    """A plugin manager with the fake drivers of every kind and nothing else loaded."""
    pm = PluginManager()
    pm.register_plugin(fake_drivers, name="fake")
    pm.check_pending()
    return pm


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per test session, for tests to copy."""
    from sqlalchemy import text

    from overcast.db import Database, upgrade

    path = tmp_path_factory.mktemp("db-template") / "overcast.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    with db.engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    db.dispose()
    return path


@pytest.fixture
def overcast_config(tmp_path: Path, migrated_sqlite_template: Path) -> Config:
    """A validated config for an all-fake cloud in ``tmp_path``, its database already at head."""
    shutil.copyfile(migrated_sqlite_template, tmp_path / "overcast.db")
    return parse_config(fake_config_data(tmp_path), tmp_path / "overcast.toml")


@pytest.fixture
def overcast_runtime(overcast_config: Config, overcast_pm: PluginManager) -> Iterator[Any]:
    """A migrated runtime over the fake config and plugin manager."""
    from overcast.runtime import build_runtime

    runtime = build_runtime(overcast_config, pm=overcast_pm)
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture(scope="session")
def qemu_img() -> str:
    """qemu-img's path (Debian qemu-utils; disk-format work in drivers and simulators), or skip."""
    from overcast.testing.facilities import missing_facility

    path = shutil.which("qemu-img")
    if path is None:
        missing_facility("qemu-img", "qemu-img is not installed (apt: qemu-utils)")
    return path
