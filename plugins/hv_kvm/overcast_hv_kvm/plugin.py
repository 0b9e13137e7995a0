"""Entry point (group ``overcast``): registers the ``kvm`` hypervisor driver and its options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from overcast.hookspecs import hookimpl
from overcast.types import ConfigOption, DriverKind

from overcast_hv_kvm.driver import KvmDriver
from overcast_hv_kvm.options import OPTIONS


@hookimpl
def overcast_register_drivers(registry: Any) -> None:
    registry.add(DriverKind.HYPERVISOR, "kvm", KvmDriver(), "QEMU/KVM through libvirt")


@hookimpl
def overcast_add_config_options() -> Sequence[ConfigOption]:
    return list(OPTIONS)
