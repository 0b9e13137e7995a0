"""The volume driver contract (``vol_*``)."""

from __future__ import annotations

import uuid

import pytest

from overcast.errors import OvercastError, UnsupportedOperation
from overcast.hookspecs import VolumeHooks
from overcast.testing.contract._common import check_refuses_unimplemented, needs
from overcast.types import Backend, BackendStats, ConnectionInfo, Connector, SnapshotRef, VolumeLocation, VolumeRef


def new_volume(size_gb: int = 1) -> VolumeRef:
    vid = str(uuid.uuid4())
    return VolumeRef(id=vid, name=f"contract-{vid[:8]}", size_gb=size_gb, project_id="contract-project")


class VolumeContract:
    """Provide ``driver`` and ``target`` (a :class:`Backend`)."""

    def _create(self, driver: VolumeHooks, target: Backend, size_gb: int = 1) -> VolumeRef:
        vol = new_volume(size_gb)
        loc = driver.create(backend=target, volume=vol)
        assert isinstance(loc, VolumeLocation) and loc.location
        assert loc.size_gb == size_gb
        return VolumeRef(vol.id, vol.name, size_gb, vol.project_id, loc.location)

    def test_init_and_stats(self, driver: VolumeHooks, target: Backend) -> None:
        needs(driver, "init_backend", "get_stats")
        assert driver.init_backend(backend=target) is True
        stats = driver.get_stats(backend=target)
        assert isinstance(stats, BackendStats)
        assert stats.total_gb >= stats.free_gb >= 0

    def test_unimplemented_operations_are_refused_before_the_call(self, driver: VolumeHooks) -> None:
        check_refuses_unimplemented(driver)

    def test_create_and_delete(self, driver: VolumeHooks, target: Backend) -> None:
        needs(driver, "create", "delete")
        vol = self._create(driver, target)
        assert driver.delete(backend=target, volume=vol) is True
        assert driver.delete(backend=target, volume=vol) is True  # already gone is success

    def test_extend_grows_and_never_shrinks(self, driver: VolumeHooks, target: Backend) -> None:
        needs(driver, "create", "extend", "delete")
        vol = self._create(driver, target, 1)
        try:
            assert driver.extend(backend=target, volume=vol, new_size_gb=2) is True
            bigger = VolumeRef(vol.id, vol.name, 2, vol.project_id, vol.location)
            with pytest.raises(OvercastError):
                driver.extend(backend=target, volume=bigger, new_size_gb=1)
        finally:
            driver.delete(backend=target, volume=vol)

    def test_snapshot_then_volume_from_it(self, driver: VolumeHooks, target: Backend) -> None:
        needs(driver, "create", "create_snapshot", "create_from_snapshot", "delete_snapshot", "delete")
        vol = self._create(driver, target)
        snap = SnapshotRef(id=str(uuid.uuid4()), volume=vol, name="contract-snap")
        loc = driver.create_snapshot(backend=target, snapshot=snap)
        assert isinstance(loc, VolumeLocation) and loc.location
        snap = SnapshotRef(snap.id, vol, snap.name, loc.location)
        copy = new_volume(1)
        copy_loc = driver.create_from_snapshot(backend=target, volume=copy, snapshot=snap)
        assert copy_loc.location and copy_loc.location != vol.location
        copy = VolumeRef(copy.id, copy.name, 1, copy.project_id, copy_loc.location)
        driver.delete(backend=target, volume=copy)
        assert driver.delete_snapshot(backend=target, snapshot=snap) is True
        driver.delete(backend=target, volume=vol)

    def test_clone_says_how_it_copied(self, driver: VolumeHooks, target: Backend) -> None:
        needs(driver, "create", "clone", "delete")
        src = self._create(driver, target)
        clone = new_volume(1)
        loc = driver.clone(backend=target, volume=clone, source=src)
        assert isinstance(loc.copy_on_write, bool)
        assert loc.location != src.location
        driver.delete(backend=target, volume=VolumeRef(clone.id, clone.name, 1, clone.project_id, loc.location))
        driver.delete(backend=target, volume=src)

    def test_connection_handshake(self, driver: VolumeHooks, target: Backend) -> None:
        needs(driver, "create", "initialize_connection", "terminate_connection", "delete")
        types = set(driver.get_stats(backend=target).connection_types) if driver.supports("get_stats") else set()
        vol = self._create(driver, target)
        try:
            connector = Connector(host="contract-host", connection_types=frozenset(types or {"file", "block"}))
            info = driver.initialize_connection(backend=target, volume=vol, connector=connector)
            assert isinstance(info, ConnectionInfo)
            assert info.driver_volume_type in connector.connection_types
            assert driver.terminate_connection(backend=target, volume=vol, connector=connector) is True
            nowhere = Connector(host="contract-host", connection_types=frozenset({"no-such-type"}))
            with pytest.raises(UnsupportedOperation):
                driver.initialize_connection(backend=target, volume=vol, connector=nowhere)
        finally:
            driver.delete(backend=target, volume=vol)

    def test_open_local_reads_and_writes_the_volume(self, driver: VolumeHooks, target: Backend) -> None:
        """What volume backups need: the bytes at offsets, a committed write replaces the
        content, a discarded one leaves it, and a snapshot reads as the volume did."""
        needs(driver, "create", "delete", "open_local", "close_local")
        vol = self._create(driver, target, 1)
        try:
            dev = driver.open_local(backend=target, volume=vol, snapshot=None, writable=True)
            assert dev.writable and dev.size >= 1024**3
            with open(dev.path, "r+b") as f:
                f.seek(5 * 1024 * 1024)
                f.write(b"contract-data")
            assert driver.close_local(backend=target, volume=vol, device=dev, commit=True) is True
            assert self._read(driver, target, vol, None, 5 * 1024 * 1024, 13) == b"contract-data"
            dev = driver.open_local(backend=target, volume=vol, snapshot=None, writable=True)
            with open(dev.path, "r+b") as f:
                f.seek(5 * 1024 * 1024)
                f.write(b"discarded-xyz")
            driver.close_local(backend=target, volume=vol, device=dev, commit=False)
            assert self._read(driver, target, vol, None, 5 * 1024 * 1024, 13) == b"contract-data"
            if driver.supports("create_snapshot") and driver.supports("delete_snapshot"):
                snap = SnapshotRef(id=str(uuid.uuid4()), volume=vol, name="contract-snap")
                loc = driver.create_snapshot(backend=target, snapshot=snap)
                snap = SnapshotRef(snap.id, vol, snap.name, loc.location)
                assert self._read(driver, target, vol, snap, 5 * 1024 * 1024, 13) == b"contract-data"
                driver.delete_snapshot(backend=target, snapshot=snap)
        finally:
            driver.delete(backend=target, volume=vol)

    @staticmethod
    def _read(
        driver: VolumeHooks, target: Backend, vol: VolumeRef, snap: SnapshotRef | None, offset: int, length: int
    ) -> bytes:
        dev = driver.open_local(backend=target, volume=vol, snapshot=snap, writable=False)
        try:
            assert not dev.writable and dev.size >= 1024**3
            with open(dev.path, "rb") as f:
                f.seek(offset)
                return f.read(length)
        finally:
            driver.close_local(backend=target, volume=vol, device=dev, commit=False)

    def test_revert_to_latest_snapshot(self, driver: VolumeHooks, target: Backend) -> None:
        """The volume's content becomes the snapshot's; the snapshot stays readable."""
        needs(driver, "create", "delete", "open_local", "close_local", "create_snapshot", "delete_snapshot")
        needs(driver, "revert_to_snapshot")
        vol = self._create(driver, target, 1)
        at = 3 * 1024 * 1024
        try:
            self._write(driver, target, vol, at, b"before-snap")
            snap = SnapshotRef(id=str(uuid.uuid4()), volume=vol, name="contract-revert")
            snap = SnapshotRef(snap.id, vol, snap.name, driver.create_snapshot(backend=target, snapshot=snap).location)
            self._write(driver, target, vol, at, b"after--snap")
            assert self._read(driver, target, vol, None, at, 11) == b"after--snap"
            assert driver.revert_to_snapshot(backend=target, volume=vol, snapshot=snap) is True
            assert self._read(driver, target, vol, None, at, 11) == b"before-snap"
            self._write(driver, target, vol, at, b"again-write")  # the volume goes on; the snapshot stays
            assert self._read(driver, target, vol, snap, at, 11) == b"before-snap"
            driver.delete_snapshot(backend=target, snapshot=snap)
        finally:
            driver.delete(backend=target, volume=vol)

    @staticmethod
    def _write(driver: VolumeHooks, target: Backend, vol: VolumeRef, offset: int, data: bytes) -> None:
        """Change bytes in place through a writable open (as a restore writes): a device that
        starts zeroed first gets the volume's current data (its non-zero ranges only)."""
        dev = driver.open_local(backend=target, volume=vol, snapshot=None, writable=True)
        try:
            if dev.zeroed:
                src = driver.open_local(backend=target, volume=vol, snapshot=None, writable=False)
                try:
                    _copy_data(src.path, dev.path)
                finally:
                    driver.close_local(backend=target, volume=vol, device=src, commit=False)
            with open(dev.path, "r+b") as f:
                f.seek(offset)
                f.write(data)
        except BaseException:
            driver.close_local(backend=target, volume=vol, device=dev, commit=False)
            raise
        driver.close_local(backend=target, volume=vol, device=dev, commit=True)


def _copy_data(src: str, dst: str, piece: int = 1024 * 1024) -> None:
    """Copy ``src``'s non-zero 1 MiB pieces to the same offsets of ``dst`` (holes skipped)."""
    import os

    zero = bytes(piece)
    with open(src, "rb") as fin, open(dst, "r+b") as fout:
        end, offset = os.fstat(fin.fileno()).st_size, 0
        while offset < end:
            try:
                offset = os.lseek(fin.fileno(), offset, os.SEEK_DATA) // piece * piece
            except OSError:
                return
            chunk = os.pread(fin.fileno(), piece, offset)
            if chunk != zero[: len(chunk)]:
                os.pwrite(fout.fileno(), chunk, offset)
            offset += piece
