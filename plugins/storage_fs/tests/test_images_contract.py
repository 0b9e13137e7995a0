"""The ``fs`` image store runs the core's image-store contract suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from overcast_storage_fs import plugin as fs_plugin

from overcast.plugins import DriverCaller, PluginManager
from overcast.testing.contract import ImageStoreContract
from overcast.types import Backend, DriverKind


@pytest.fixture
def driver() -> DriverCaller:
    pm = PluginManager()
    pm.register_plugin(fs_plugin, name="storage_fs")
    pm.check_pending()
    return pm.driver(DriverKind.IMAGE_STORE, "fs")


@pytest.fixture
def target(tmp_path: Path) -> Backend:
    return Backend(DriverKind.IMAGE_STORE, "image_store", "fs", {"path": str(tmp_path / "images")}, str(tmp_path))


class TestFsImageStoreContract(ImageStoreContract):
    pass
