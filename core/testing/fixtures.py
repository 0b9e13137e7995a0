"""Fixtures for driver authors and the core's tests (exported by the pytest plugin)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.config import Config, parse_config
from overcast.plugins import PluginManager
from overcast.testing.fakes import FakeDriversPlugin

from overcast.testing.cloud import cloud, running_cloud, running_cloud_config  # noqa: E402 - documented there

__all__ = [
    "fake_drivers", "overcast_pm", "overcast_config", "overcast_runtime", "fake_config_data",
    "overcast_db_template", "cloud", "running_cloud", "running_cloud_config",
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


@pytest.fixture
def overcast_config(tmp_path: Path) -> Config:
    """A validated config for an all-fake cloud in ``tmp_path``."""
    return parse_config(fake_config_data(tmp_path), tmp_path / "overcast.toml")


#: The admin password in databases copied from ``overcast_db_template``.
TEMPLATE_ADMIN_PASSWORD = "overcast-test-admin"


@pytest.fixture(scope="session")
def overcast_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated and bootstrapped (admin user and project, roles; admin
    password :data:`TEMPLATE_ADMIN_PASSWORD`) once per test session. Copying it is much
    faster than migrating and bootstrapping for every test."""
    from overcast.runtime import build_runtime

    directory = tmp_path_factory.mktemp("db-template")
    config = parse_config(fake_config_data(directory), directory / "overcast.toml")
    pm = PluginManager()
    pm.register_plugin(FakeDriversPlugin(), name="fake")
    runtime = build_runtime(config, pm=pm)
    try:
        runtime.identity.bootstrap(TEMPLATE_ADMIN_PASSWORD)
    finally:
        runtime.close()  # the last connection checkpoints the WAL into the file
    return directory / "overcast.db"


@pytest.fixture
def overcast_runtime(overcast_config: Config, overcast_pm: PluginManager, overcast_db_template: Path) -> Iterator[Any]:
    """A migrated runtime over the fake config and plugin manager."""
    import shutil

    from overcast.runtime import build_runtime

    target = overcast_config.data_dir / "overcast.db"
    if not overcast_config.database.url and not target.exists():
        overcast_config.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(overcast_db_template, target)
    runtime = build_runtime(overcast_config, pm=overcast_pm)
    try:
        yield runtime
    finally:
        runtime.close()
