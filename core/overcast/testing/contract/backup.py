"""The backup target contract (``backup_*``): named objects in a project's container, and
a whole backup and restore through the core's chunker on top of them."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator

import pytest

from overcast.errors import NotFound
from overcast.hookspecs import BackupHooks
from overcast.testing.contract._common import check_refuses_unimplemented, needs
from overcast.types import Backend, BackupJob, BackupTarget, LocalDevice

MiB = 1024 * 1024


class BackupContract:
    """Provide ``driver`` and ``target`` (a :class:`Backend` of kind backup); override
    ``location`` when the driver needs an endpoint and credentials in the
    :class:`BackupTarget` (the default names a fresh project and container)."""

    @pytest.fixture
    def location(self) -> BackupTarget:
        return BackupTarget(project_id=f"contract-{uuid.uuid4().hex[:12]}", container="volumebackups")

    def test_unimplemented_operations_are_refused_before_the_call(self, driver: BackupHooks) -> None:
        check_refuses_unimplemented(driver)

    def test_objects_round_trip(self, driver: BackupHooks, target: Backend, location: BackupTarget) -> None:
        needs(driver, "prepare", "put", "get", "delete", "list")
        assert driver.list(backend=target, target=location, prefix="") == []  # never prepared: empty
        assert driver.prepare(backend=target, target=location) is True
        assert driver.prepare(backend=target, target=location) is True  # idempotent
        data = os.urandom(MiB) + b"\0" * 1000
        assert driver.put(backend=target, target=location, name="volume_x/b1-00001", data=data) is True
        assert driver.put(backend=target, target=location, name="volume_x/b1_metadata", data=b"{}") is True
        assert driver.put(backend=target, target=location, name="volume_y/other", data=b"y") is True
        assert driver.get(backend=target, target=location, name="volume_x/b1-00001") == data
        driver.put(backend=target, target=location, name="volume_x/b1_metadata", data=b'{"v":2}')  # replaces
        assert driver.get(backend=target, target=location, name="volume_x/b1_metadata") == b'{"v":2}'
        assert list(driver.list(backend=target, target=location, prefix="volume_x/")) == [
            "volume_x/b1-00001",
            "volume_x/b1_metadata",
        ]
        with pytest.raises(NotFound):
            driver.get(backend=target, target=location, name="volume_x/missing")
        for name in driver.list(backend=target, target=location, prefix=""):
            assert driver.delete(backend=target, target=location, name=name) is True
        assert driver.delete(backend=target, target=location, name="volume_y/other") is True  # gone is success
        assert driver.list(backend=target, target=location, prefix="") == []

    def test_other_projects_do_not_see_the_objects(
        self, driver: BackupHooks, target: Backend, location: BackupTarget
    ) -> None:
        needs(driver, "prepare", "put", "list", "delete")
        driver.prepare(backend=target, target=location)
        driver.put(backend=target, target=location, name="mine", data=b"1")
        other = dataclasses.replace(location, container=f"other-{uuid.uuid4().hex[:8]}")
        assert driver.list(backend=target, target=other, prefix="") == []
        driver.delete(backend=target, target=location, name="mine")

    def test_chunked_backup_and_restore_are_byte_identical(
        self, driver: BackupHooks, target: Backend, location: BackupTarget, sparse_files: tuple[str, str]
    ) -> None:
        from overcast.volume.backup_chunks import ChunkStore, backup_device, restore_device

        needs(driver, "prepare", "put", "get", "list", "delete")
        src, dst = sparse_files
        size = os.path.getsize(src)
        job = BackupJob(backup_id="b1", target=location, object_prefix="volume_v/b1", chunk_size=MiB, workers=2)
        store = ChunkStore(driver, target, job)
        driver.prepare(backend=target, target=location)
        full = backup_device(LocalDevice(path=src, size=size), store, "v")
        assert full.chunks == 8 and full.zero_chunks == 5 and full.objects == 4  # 3 chunks with data + index
        with open(src, "r+b") as f:
            f.seek(MiB + 10)
            f.write(b"changed")
        incr_job = dataclasses.replace(job, backup_id="b2", object_prefix="volume_v/b2", parent_prefix="volume_v/b1")
        incr = backup_device(LocalDevice(path=src, size=size), ChunkStore(driver, target, incr_job), "v")
        assert incr.objects == 2 and incr.reused_chunks == 2  # the changed chunk and the index
        restore_device(LocalDevice(path=dst, size=size, writable=True), ChunkStore(driver, target, incr_job))
        assert _sha256(dst) == _sha256(src)
        for name in driver.list(backend=target, target=location, prefix="volume_v/"):
            driver.delete(backend=target, target=location, name=name)

    @pytest.fixture
    def sparse_files(self) -> Iterator[tuple[str, str]]:
        """An 8 MiB sparse source with data in three 1 MiB chunks, and a target of the same size."""
        paths = []
        for _ in range(2):
            fd, path = tempfile.mkstemp(prefix="backup-contract-")
            os.ftruncate(fd, 8 * MiB)
            os.close(fd)
            paths.append(path)
        with open(paths[0], "r+b") as f:
            for offset in (0, MiB + 4096, 6 * MiB):
                f.seek(offset)
                f.write(os.urandom(300 * 1024))
        with open(paths[1], "r+b") as f:
            f.write(b"junk that the restore overwrites with zeros")
        yield paths[0], paths[1]
        for path in paths:
            os.unlink(path)


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
