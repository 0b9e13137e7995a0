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
    BackupJob,
    BackupResult,
    ImageFile,
    LocalDevice,
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
    "open_local",
    "close_local",
    "revert_to_snapshot",
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

    @rpc
    def revert_to_snapshot(self, backend_name: str, volume: VolumeRef, snapshot: SnapshotRef) -> bool:
        driver, backend = self._driver(backend_name)
        return driver.revert_to_snapshot(backend=backend, volume=volume, snapshot=snapshot)

    # --- local byte access and volume backups (issue 18) -------------------------------------
    # open_local/close_local hand out a path on *this* host: the backup methods below use them
    # here, next to the data, and only contract values cross the bus.

    @rpc
    def open_local(
        self, backend_name: str, volume: VolumeRef, snapshot: SnapshotRef | None, writable: bool
    ) -> LocalDevice:
        driver, backend = self._driver(backend_name)
        return driver.open_local(backend=backend, volume=volume, snapshot=snapshot, writable=writable)

    @rpc
    def close_local(self, backend_name: str, volume: VolumeRef, device: LocalDevice, commit: bool) -> bool:
        driver, backend = self._driver(backend_name)
        return driver.close_local(backend=backend, volume=volume, device=device, commit=commit)

    def _chunk_store(self, job: BackupJob) -> Any:
        from overcast.volume.backup_chunks import ChunkStore

        target: Backend | None = self.runtime.drivers.backup
        if target is None:
            raise NotFound(f"no [backup] target is configured on host {self.host_name}")
        return ChunkStore(self.runtime.plugins.driver("backup", target.driver), target, job)

    @rpc
    def backup_volume(
        self, backend_name: str, volume: VolumeRef, snapshot: SnapshotRef | None, job: BackupJob
    ) -> BackupResult:
        """Back the volume (or its snapshot) up into the job's target, chunked, compressed and
        checksummed (``overcast.volume.backup_chunks``)."""
        from overcast.volume.backup_chunks import backup_device

        store = self._chunk_store(job)
        store.driver.prepare(backend=store.backend, target=job.target)
        device = self.open_local(backend_name, volume, snapshot, False)
        try:
            return backup_device(device, store, volume.id)
        finally:
            self.close_local(backend_name, volume, device, False)

    @rpc
    def restore_volume(self, backend_name: str, volume: VolumeRef, job: BackupJob) -> BackupResult:
        """Overwrite the volume with the backup the job names; the volume's content changes
        only if every chunk was read and verified (the driver commits it at the end)."""
        from overcast.volume.backup_chunks import restore_device

        store = self._chunk_store(job)
        device = self.open_local(backend_name, volume, None, True)
        try:
            result = restore_device(device, store)
        except BaseException:
            self.close_local(backend_name, volume, device, False)
            raise
        self.close_local(backend_name, volume, device, True)
        return result

    @rpc
    def copy_volume(self, backend_name: str, volume: VolumeRef, dest_backend: str, dest: VolumeRef) -> int:
        """Copy ``volume``'s bytes onto ``dest``, a volume of ``dest_backend`` (another backend this
        host drives), for a migration between backends: read through ``vol_open_local``, written
        through a writable ``vol_open_local`` of ``dest`` that only a whole copy commits, then
        ``dest`` is read back and checked chunk by chunk (sha256). The bytes copied."""
        from overcast.errors import DriverError
        from overcast.volume.backup_chunks import copy_device, digest_device

        cfg = self.runtime.config.volume
        step, workers = cfg.backup_chunk_mb * 1024 * 1024, cfg.backup_workers
        src = self.open_local(backend_name, volume, None, False)
        try:
            dst = self.open_local(dest_backend, dest, None, True)
            try:
                digest = copy_device(src, dst, step, workers)
            except BaseException:
                self.close_local(dest_backend, dest, dst, False)
                raise
            self.close_local(dest_backend, dest, dst, True)
        finally:
            self.close_local(backend_name, volume, src, False)
        check = self.open_local(dest_backend, dest, None, False)
        try:
            if digest_device(check, src.size, step, workers) != digest:
                raise DriverError(f"volume {dest.id} on {dest_backend} does not read back what was copied onto it")
        finally:
            self.close_local(dest_backend, dest, check, False)
        return src.size
