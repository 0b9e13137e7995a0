"""Entry point (group ``overcast``): registers the ``xen`` hypervisor driver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from overcast.hookspecs import hookimpl
from overcast.types import ConfigOption, DriverKind

from overcast_hv_xen.driver import NAME, OPTIONS, XenDriver

DRIVER = XenDriver()


@hookimpl
def overcast_register_drivers(registry: Any) -> None:
    registry.add(DriverKind.HYPERVISOR, NAME, DRIVER, "XenServer / XCP-ng pools over XAPI (xenapi)")


@hookimpl
def overcast_add_config_options() -> Sequence[ConfigOption]:
    return list(OPTIONS)
