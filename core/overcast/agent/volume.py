"""The volume part of a host agent: runs volume drivers for backends local to this host.

Used for backends named in ``[volume] backend_hosts`` (storage only that host can reach,
such as an LVM group it attaches as block devices). The controller's
``overcast.volume.backends.BackendCalls`` sends ``volume_<operation>(backend_name=...,
...)``; this class resolves the backend from the agent's own config and calls the driver.
No database access here: every argument and result is contract data.
"""

from __future__ import annotations

from typing import Any

from overcast.bus.rpc import rpc
from overcast.errors import NotFound
from overcast.hookspecs import VolumeHooks
from overcast.types import (
    Backend,
    BackendStats,
    ConnectionInfo,
    Connector,
    ImageFile,
    SnapshotRef,
    SnapshotResult,
    VolumeLocation,
    VolumeRef,
)

OPERATIONS = (
    "init_backend",
    "get_stats",
    "create",
    "delete",
    "extend",
    "create_snapshot",
    "delete_snapshot",
    "create_from_snapshot",
    "clone",
    "initialize_connection",
    "terminate_connection",
    "copy_image_to_volume",
    "copy_volume_to_image",
)


class VolumeAgent:
    """The volume RPC interface (``volume_<method>`` on ``agent.<host>``). The controller also
    runs it in-process for backends not tied to a host, so both paths are the same code."""

    RPC_PREFIX = "volume_"

    def __init__(self, runtime: Any, host_name: str) -> None:
        self.runtime = runtime
        self.host_name = host_name

    def _backend(self, backend_name: str) -> Backend:
        backend: Backend | None = self.runtime.drivers.volume_backends.get(backend_name)
        if backend is None:
            raise NotFound(f"volume backend {backend_name} is not configured on host {self.host_name}")
        return backend

    def _driver(self, backend_name: str) -> tuple[VolumeHooks, Backend]:
        backend = self._backend(backend_name)
        return self.runtime.plugins.driver("volume", backend.driver), backend

    @rpc
    def supports(self, backend_name: str, operation: str) -> bool:
        return self._driver(backend_name)[0].supports(operation)

    @rpc
    def init_backend(self, backend_name: str) -> bool:
        driver, backend = self._driver(backend_name)
        return driver.init_backend(backend=backend)

    @rpc
    def get_stats(self, backend_name: str) -> BackendStats:
        driver, backend = self._driver(backend_name)
        return driver.get_stats(backend=backend)

    @rpc
    def create(self, backend_name: str, volume: VolumeRef) -> VolumeLocation:
        driver, backend = self._driver(backend_name)
        return driver.create(backend=backend, volume=volume)

    @rpc
    def delete(self, backend_name: str, volume: VolumeRef) -> bool:
        driver, backend = self._driver(backend_name)
        return driver.delete(backend=backend, volume=volume)

    @rpc
    def extend(self, backend_name: str, volume: VolumeRef, new_size_gb: int) -> bool:
        driver, backend = self._driver(backend_name)
        return driver.extend(backend=backend, volume=volume, new_size_gb=new_size_gb)

    @rpc
    def create_snapshot(self, backend_name: str, snapshot: SnapshotRef) -> VolumeLocation:
        driver, backend = self._driver(backend_name)
        return driver.create_snapshot(backend=backend, snapshot=snapshot)

    @rpc
    def delete_snapshot(self, backend_name: str, snapshot: SnapshotRef) -> bool:
        driver, backend = self._driver(backend_name)
        return driver.delete_snapshot(backend=backend, snapshot=snapshot)

    @rpc
    def create_from_snapshot(self, backend_name: str, volume: VolumeRef, snapshot: SnapshotRef) -> VolumeLocation:
        driver, backend = self._driver(backend_name)
        return driver.create_from_snapshot(backend=backend, volume=volume, snapshot=snapshot)

    @rpc
    def clone(self, backend_name: str, volume: VolumeRef, source: VolumeRef) -> VolumeLocation:
        driver, backend = self._driver(backend_name)
        return driver.clone(backend=backend, volume=volume, source=source)

    @rpc
    def initialize_connection(self, backend_name: str, volume: VolumeRef, connector: Connector) -> ConnectionInfo:
        driver, backend = self._driver(backend_name)
        return driver.initialize_connection(backend=backend, volume=volume, connector=connector)

    @rpc
    def terminate_connection(self, backend_name: str, volume: VolumeRef, connector: Connector) -> bool:
        driver, backend = self._driver(backend_name)
        return driver.terminate_connection(backend=backend, volume=volume, connector=connector)

    @rpc
    def copy_image_to_volume(self, backend_name: str, volume: VolumeRef, image: ImageFile) -> bool:
        driver, backend = self._driver(backend_name)
        return driver.copy_image_to_volume(backend=backend, volume=volume, image=image)

    @rpc
    def copy_volume_to_image(
        self, backend_name: str, volume: VolumeRef, disk_format: str, dest_path: str
    ) -> SnapshotResult:
        driver, backend = self._driver(backend_name)
        return driver.copy_volume_to_image(backend=backend, volume=volume, disk_format=disk_format, dest_path=dest_path)
