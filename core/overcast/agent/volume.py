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

    def _call(self, operation: str, backend_name: str, **kwargs: Any) -> Any:
        backend = self._backend(backend_name)
        return self.runtime.plugins.driver("volume", backend.driver).call(operation, backend=backend, **kwargs)

    @rpc
    def supports(self, backend_name: str, operation: str) -> bool:
        supported: bool = self.runtime.plugins.driver("volume", self._backend(backend_name).driver).supports(operation)
        return supported

    @rpc
    def init_backend(self, backend_name: str) -> bool:
        return self._call("init_backend", backend_name)

    @rpc
    def get_stats(self, backend_name: str) -> BackendStats:
        return self._call("get_stats", backend_name)

    @rpc
    def create(self, backend_name: str, volume: VolumeRef) -> VolumeLocation:
        return self._call("create", backend_name, volume=volume)

    @rpc
    def delete(self, backend_name: str, volume: VolumeRef) -> bool:
        return self._call("delete", backend_name, volume=volume)

    @rpc
    def extend(self, backend_name: str, volume: VolumeRef, new_size_gb: int) -> bool:
        return self._call("extend", backend_name, volume=volume, new_size_gb=new_size_gb)

    @rpc
    def create_snapshot(self, backend_name: str, snapshot: SnapshotRef) -> VolumeLocation:
        return self._call("create_snapshot", backend_name, snapshot=snapshot)

    @rpc
    def delete_snapshot(self, backend_name: str, snapshot: SnapshotRef) -> bool:
        return self._call("delete_snapshot", backend_name, snapshot=snapshot)

    @rpc
    def create_from_snapshot(self, backend_name: str, volume: VolumeRef, snapshot: SnapshotRef) -> VolumeLocation:
        return self._call("create_from_snapshot", backend_name, volume=volume, snapshot=snapshot)

    @rpc
    def clone(self, backend_name: str, volume: VolumeRef, source: VolumeRef) -> VolumeLocation:
        return self._call("clone", backend_name, volume=volume, source=source)

    @rpc
    def initialize_connection(self, backend_name: str, volume: VolumeRef, connector: Connector) -> ConnectionInfo:
        return self._call("initialize_connection", backend_name, volume=volume, connector=connector)

    @rpc
    def terminate_connection(self, backend_name: str, volume: VolumeRef, connector: Connector) -> bool:
        return self._call("terminate_connection", backend_name, volume=volume, connector=connector)

    @rpc
    def copy_image_to_volume(self, backend_name: str, volume: VolumeRef, image: ImageFile) -> bool:
        return self._call("copy_image_to_volume", backend_name, volume=volume, image=image)

    @rpc
    def copy_volume_to_image(self, backend_name: str, volume: VolumeRef, disk_format: str, dest_path: str) -> SnapshotResult:
        return self._call("copy_volume_to_image", backend_name, volume=volume, disk_format=disk_format, dest_path=dest_path)
