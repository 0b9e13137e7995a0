"""Volumes as byte arrays in memory."""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from typing import Any

from overcast.errors import Conflict, DriverError, NotFound
from overcast.hookspecs import hookimpl
from overcast.types import (
    Backend,
    BackendStats,
    ConnectionInfo,
    Connector,
    ImageFile,
    LocalDevice,
    SnapshotRef,
    VolumeLocation,
    VolumeRef,
)


class FakeVolumeDriver:
    """Volumes as byte arrays in memory; snapshots and clones copy-on-write by reference."""

    def __init__(self) -> None:
        self.volumes: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # backend -> location -> vol
        self.snapshots: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.exports: dict[str, set[str]] = defaultdict(set)  # location -> hosts

    def _capacity(self, backend: Backend) -> int:
        return int(backend.options.get("capacity_gb") or 1000)

    def _vol(self, backend: Backend, volume: VolumeRef) -> dict[str, Any]:
        try:
            return self.volumes[backend.name][volume.location]
        except KeyError:
            raise NotFound(f"volume {volume.id} has no data on backend {backend.name}") from None

    def _used(self, backend: Backend) -> int:
        return sum(v["size_gb"] for v in self.volumes[backend.name].values())

    def _new(self, backend: Backend, volume: VolumeRef, content: dict[int, bytes]) -> VolumeLocation:
        if self._used(backend) + volume.size_gb > self._capacity(backend):
            raise DriverError(f"backend {backend.name} has no room for {volume.size_gb} GiB")
        location = f"fake://{backend.name}/volume-{volume.id}"
        self.volumes[backend.name][location] = {"size_gb": volume.size_gb, "blocks": dict(content)}
        return VolumeLocation(location=location, size_gb=volume.size_gb, copy_on_write=bool(content))

    @hookimpl
    def vol_init_backend(self, backend: Backend) -> bool:
        self.volumes.setdefault(backend.name, {})
        return True

    @hookimpl
    def vol_get_stats(self, backend: Backend) -> BackendStats:
        total = self._capacity(backend)
        return BackendStats(total_gb=total, free_gb=total - self._used(backend), connection_types=frozenset({"fake"}))

    @hookimpl
    def vol_create(self, backend: Backend, volume: VolumeRef) -> VolumeLocation:
        return self._new(backend, volume, {})

    @hookimpl
    def vol_delete(self, backend: Backend, volume: VolumeRef) -> bool:
        if self.exports.get(volume.location):
            raise Conflict(f"volume {volume.id} is still exported to {sorted(self.exports[volume.location])}")
        self.volumes[backend.name].pop(volume.location, None)
        return True

    @hookimpl
    def vol_extend(self, backend: Backend, volume: VolumeRef, new_size_gb: int) -> bool:
        vol = self._vol(backend, volume)
        if new_size_gb < vol["size_gb"]:
            raise DriverError(f"cannot shrink volume {volume.id} from {vol['size_gb']} to {new_size_gb} GiB")
        vol["size_gb"] = new_size_gb
        return True

    @hookimpl
    def vol_create_snapshot(self, backend: Backend, snapshot: SnapshotRef) -> VolumeLocation:
        vol = self._vol(backend, snapshot.volume)
        location = f"fake://{backend.name}/snapshot-{snapshot.id}"
        self.snapshots[backend.name][location] = {"size_gb": vol["size_gb"], "blocks": dict(vol["blocks"])}
        return VolumeLocation(location=location, size_gb=vol["size_gb"], copy_on_write=True)

    @hookimpl
    def vol_delete_snapshot(self, backend: Backend, snapshot: SnapshotRef) -> bool:
        self.snapshots[backend.name].pop(snapshot.location, None)
        return True

    @hookimpl
    def vol_create_from_snapshot(self, backend: Backend, volume: VolumeRef, snapshot: SnapshotRef) -> VolumeLocation:
        try:
            snap = self.snapshots[backend.name][snapshot.location]
        except KeyError:
            raise NotFound(f"snapshot {snapshot.id} has no data on backend {backend.name}") from None
        return self._new(backend, volume, snap["blocks"] or {0: b""})

    @hookimpl
    def vol_clone(self, backend: Backend, volume: VolumeRef, source: VolumeRef) -> VolumeLocation:
        return self._new(backend, volume, self._vol(backend, source)["blocks"] or {0: b""})

    @hookimpl
    def vol_copy_image_to_volume(self, backend: Backend, volume: VolumeRef, image: ImageFile) -> bool:
        """The image file's bytes become the volume's first bytes (no format conversion)."""
        vol = self._vol(backend, volume)
        with open(image.path, "rb") as f:
            data = f.read()
        if len(data) > int(vol["size_gb"]) * self.GiB:
            raise DriverError(f"image {image.image.id} does not fit in volume {volume.id}")
        vol["blocks"] = {0: data} if data else {}
        return True

    @hookimpl
    def vol_initialize_connection(self, backend: Backend, volume: VolumeRef, connector: Connector) -> ConnectionInfo:
        self._vol(backend, volume)
        if "fake" not in connector.connection_types:
            from overcast.errors import UnsupportedOperation

            raise UnsupportedOperation(f"host {connector.host} cannot attach 'fake' volumes")
        self.exports[volume.location].add(connector.host)
        return ConnectionInfo(driver_volume_type="fake", data={"location": volume.location})

    @hookimpl
    def vol_terminate_connection(self, backend: Backend, volume: VolumeRef, connector: Connector) -> bool:
        self.exports[volume.location].discard(connector.host)
        return True

    @hookimpl
    def vol_revert_to_snapshot(self, backend: Backend, volume: VolumeRef, snapshot: SnapshotRef) -> bool:
        vol = self._vol(backend, volume)
        if self.exports.get(volume.location):
            raise Conflict(f"volume {volume.id} is exported: it cannot be reverted")
        try:
            snap = self.snapshots[backend.name][snapshot.location]
        except KeyError:
            raise NotFound(f"snapshot {snapshot.id} has no data on backend {backend.name}") from None
        vol["blocks"] = dict(snap["blocks"])
        return True

    # --- local byte access (issue 18): the blocks materialised in a sparse scratch file ---------

    GiB = 1024**3

    @hookimpl
    def vol_open_local(
        self, backend: Backend, volume: VolumeRef, snapshot: SnapshotRef | None, writable: bool
    ) -> LocalDevice:
        if snapshot is not None:
            if writable:
                raise DriverError("snapshots open read-only")
            try:
                src = self.snapshots[backend.name][snapshot.location]
            except KeyError:
                raise NotFound(f"snapshot {snapshot.id} has no data on backend {backend.name}") from None
        else:
            src = self._vol(backend, volume)
            if writable and self.exports.get(volume.location):
                raise Conflict(f"volume {volume.id} is exported: it cannot be overwritten")
        size = int(src["size_gb"]) * self.GiB
        fd, path = tempfile.mkstemp(prefix="fake-volume-", suffix=".raw")
        try:
            os.ftruncate(fd, size)
            if not writable:
                for offset, data in src["blocks"].items():
                    os.pwrite(fd, data, offset)
        finally:
            os.close(fd)
        return LocalDevice(path=path, size=size, writable=writable, zeroed=writable, handle=path)

    @hookimpl
    def vol_close_local(self, backend: Backend, volume: VolumeRef, device: LocalDevice, commit: bool) -> bool:
        try:
            if device.writable and commit:
                self._vol(backend, volume)["blocks"] = read_blocks(device.handle)
        finally:
            os.unlink(device.handle)
        return True


def read_blocks(path: str, block: int = 1024 * 1024) -> dict[int, bytes]:
    """The non-zero 1 MiB blocks of a (sparse) file, by offset."""
    out: dict[int, bytes] = {}
    zero = bytes(block)
    with open(path, "rb") as f:
        fd, end, offset = f.fileno(), os.fstat(f.fileno()).st_size, 0
        while offset < end:
            try:
                offset = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:
                break
            data = os.pread(fd, block, offset)
            if data and data != zero[: len(data)]:
                out[offset] = data
            offset += block
    return out
