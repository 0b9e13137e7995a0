"""Entry point (group ``overcast``): registers the ``hyperv`` hypervisor driver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from overcast.hookspecs import hookimpl
from overcast.types import ConfigOption, DriverKind

from overcast_hv_hyperv.driver import NAME, OPTIONS, HyperVDriver

DRIVER = HyperVDriver()


@hookimpl
def overcast_register_drivers(registry: Any) -> None:
    registry.add(DriverKind.HYPERVISOR, NAME, DRIVER, "Microsoft Hyper-V over WinRM and PowerShell (pywinrm)")


@hookimpl
def overcast_add_config_options() -> Sequence[ConfigOption]:
    return list(OPTIONS)
