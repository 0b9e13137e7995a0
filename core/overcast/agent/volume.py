"""The volume part of a host agent: runs volume drivers for backends local to this host.

Used for backends named in ``[volume] backend_hosts`` (storage only that host can reach,
such as an LVM group it attaches as block devices). The controller's
``overcast.volume.backends.BackendCalls`` sends ``volume_<operation>(backend_name=...,
...)``; this class resolves the backend from the agent's own config and calls the driver.
No database access here: every argument and result is contract data.
"""

from __future__ import annotations

from typing import Any

from overcast.errors import NotFound

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
    def __init__(self, runtime: Any, host_name: str) -> None:
        self.runtime = runtime
        self.host_name = host_name

    def _call(self, operation: str, backend_name: str, **kwargs: Any) -> Any:
        backend = self.runtime.drivers.volume_backends.get(backend_name)
        if backend is None:
            raise NotFound(f"volume backend {backend_name} is not configured on host {self.host_name}")
        return self.runtime.plugins.driver("volume", backend.driver).call(operation, backend=backend, **kwargs)

    def volume_supports(self, backend_name: str, operation: str) -> bool:
        backend = self.runtime.drivers.volume_backends.get(backend_name)
        if backend is None:
            raise NotFound(f"volume backend {backend_name} is not configured on host {self.host_name}")
        return self.runtime.plugins.driver("volume", backend.driver).supports(operation)

    def volume_init_backend(self, backend_name: str) -> Any:
        return self._call("init_backend", backend_name)

    def volume_get_stats(self, backend_name: str) -> Any:
        return self._call("get_stats", backend_name)

    def volume_create(self, backend_name: str, volume: Any) -> Any:
        return self._call("create", backend_name, volume=volume)

    def volume_delete(self, backend_name: str, volume: Any) -> Any:
        return self._call("delete", backend_name, volume=volume)

    def volume_extend(self, backend_name: str, volume: Any, new_size_gb: int) -> Any:
        return self._call("extend", backend_name, volume=volume, new_size_gb=new_size_gb)

    def volume_create_snapshot(self, backend_name: str, snapshot: Any) -> Any:
        return self._call("create_snapshot", backend_name, snapshot=snapshot)

    def volume_delete_snapshot(self, backend_name: str, snapshot: Any) -> Any:
        return self._call("delete_snapshot", backend_name, snapshot=snapshot)

    def volume_create_from_snapshot(self, backend_name: str, volume: Any, snapshot: Any) -> Any:
        return self._call("create_from_snapshot", backend_name, volume=volume, snapshot=snapshot)

    def volume_clone(self, backend_name: str, volume: Any, source: Any) -> Any:
        return self._call("clone", backend_name, volume=volume, source=source)

    def volume_initialize_connection(self, backend_name: str, volume: Any, connector: Any) -> Any:
        return self._call("initialize_connection", backend_name, volume=volume, connector=connector)

    def volume_terminate_connection(self, backend_name: str, volume: Any, connector: Any) -> Any:
        return self._call("terminate_connection", backend_name, volume=volume, connector=connector)

    def volume_copy_image_to_volume(self, backend_name: str, volume: Any, image: Any) -> Any:
        return self._call("copy_image_to_volume", backend_name, volume=volume, image=image)

    def volume_copy_volume_to_image(self, backend_name: str, volume: Any, disk_format: str, dest_path: str) -> Any:
        return self._call("copy_volume_to_image", backend_name, volume=volume, disk_format=disk_format, dest_path=dest_path)
