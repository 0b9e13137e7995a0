"""Entry point: registers the ``lvm`` volume driver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from overcast.hookspecs import hookimpl
from overcast.types import ConfigOption, DriverKind

from overcast_storage_lvm.driver import OPTIONS, LvmVolumeDriver


@hookimpl
def overcast_register_drivers(registry: Any) -> None:
    registry.add(DriverKind.VOLUME, "lvm", LvmVolumeDriver(), "volumes as LVM logical volumes (thick or thin)")


@hookimpl
def overcast_add_config_options() -> Sequence[ConfigOption]:
    return OPTIONS
