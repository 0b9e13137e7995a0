"""Entry point (group ``overcast``): registers the ``esx`` hypervisor driver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from overcast.hookspecs import hookimpl
from overcast.types import ConfigOption, DriverKind

from overcast_hv_esx.driver import NAME, OPTIONS, EsxDriver

DRIVER = EsxDriver()


@hookimpl
def overcast_register_drivers(registry: Any) -> None:
    registry.add(DriverKind.HYPERVISOR, NAME, DRIVER, "VMware vCenter / ESXi over the vSphere API (pyvmomi)")


@hookimpl
def overcast_add_config_options() -> Sequence[ConfigOption]:
    return list(OPTIONS)
