"""Entry point: registers the ``fs`` image store, volume and object-store drivers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from overcast.hookspecs import hookimpl
from overcast.types import ConfigOption, DriverKind

from overcast_storage_fs import images, objects, volumes


@hookimpl
def overcast_register_drivers(registry: Any) -> None:
    registry.add(DriverKind.IMAGE_STORE, "fs", images.FsImageStore(), "images as files in a directory")
    registry.add(DriverKind.VOLUME, "fs", volumes.FsVolumeDriver(), "volumes as raw/qcow2 files in a directory")
    registry.add(DriverKind.OBJECT_STORE, "fs", objects.FsObjectStore(), "objects as files in hashed directories")


@hookimpl
def overcast_add_config_options() -> Sequence[ConfigOption]:
    return [*images.OPTIONS, *volumes.OPTIONS, *objects.OPTIONS]
