"""In-memory fake drivers of every kind, registered like real ones under the name ``fake``.

They keep real state and enforce the same rules a real backend would (a paused guest
cannot be paused again, a stream that raises stores nothing, an etag mismatch stores
nothing), so the core's tests and the contract suites exercise real behaviour without I/O.
State lives on the driver object, keyed by host or backend name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from overcast.hookspecs import hookimpl
from overcast.testing.fakes.backup import FakeBackupTarget
from overcast.testing.fakes.hypervisor import FakeHypervisor
from overcast.testing.fakes.image_store import FakeImageStore
from overcast.testing.fakes.loadbalancer import FakeLoadBalancerDriver
from overcast.testing.fakes.network import FakeNetworkDriver
from overcast.testing.fakes.object_store import FakeObjectStore, swift_listing
from overcast.testing.fakes.volume import FakeVolumeDriver
from overcast.types import ConfigOption, DriverKind

FAKE = "fake"

__all__ = [
    "FAKE",
    "FakeBackupTarget",
    "FakeDriversPlugin",
    "FakeHypervisor",
    "FakeImageStore",
    "FakeLoadBalancerDriver",
    "FakeNetworkDriver",
    "FakeObjectStore",
    "FakeVolumeDriver",
    "swift_listing",
]


class FakeDriversPlugin:
    """Registers one fake driver of every kind under the name ``fake``. ``shared``: the image
    and object stores share their data with the other processes of the cloud (API workers,
    object-API workers) through their state dirs."""

    def __init__(self, shared: bool = False) -> None:
        self.hypervisor = FakeHypervisor()
        self.volume = FakeVolumeDriver()
        self.network = FakeNetworkDriver()
        self.image_store = FakeImageStore(shared)
        self.object_store = FakeObjectStore(shared)
        self.backup = FakeBackupTarget()
        self.loadbalancer = FakeLoadBalancerDriver()

    @hookimpl
    def overcast_register_drivers(self, registry: Any) -> None:
        registry.add(DriverKind.HYPERVISOR, FAKE, self.hypervisor, "in-memory fake hypervisor")
        registry.add(DriverKind.VOLUME, FAKE, self.volume, "in-memory fake volumes")
        registry.add(DriverKind.NETWORK, FAKE, self.network, "records network plumbing")
        registry.add(DriverKind.IMAGE_STORE, FAKE, self.image_store, "in-memory images")
        registry.add(DriverKind.OBJECT_STORE, FAKE, self.object_store, "in-memory objects")
        registry.add(DriverKind.BACKUP, FAKE, self.backup, "in-memory backup objects")
        registry.add(DriverKind.LOADBALANCER, FAKE, self.loadbalancer, "in-memory load-balancer data plane")

    @hookimpl
    def overcast_add_config_options(self) -> Sequence[ConfigOption]:
        hv = DriverKind.HYPERVISOR
        return [
            ConfigOption(hv, FAKE, "vcpus", int, 16, help="vCPUs the fake host reports"),
            ConfigOption(hv, FAKE, "memory_mb", int, 65536, help="RAM the fake host reports"),
            ConfigOption(hv, FAKE, "local_gb", int, 1000, help="disk the fake host reports"),
            ConfigOption(hv, FAKE, "hypervisor_type", str, "fake", help="hypervisor_type it matches"),
            ConfigOption(hv, FAKE, "image_types", list, ["qcow2", "raw"], help="disk formats it boots"),
            ConfigOption(hv, FAKE, "shared_storage", bool, False, help="instance disks on shared storage (evacuable)"),
            ConfigOption(
                hv, FAKE, "boot_from_volume", bool, True, help="a volume may be the root disk (HvCapabilities)"
            ),
            ConfigOption(DriverKind.VOLUME, FAKE, "capacity_gb", int, 1000, help="capacity it reports"),
        ]
