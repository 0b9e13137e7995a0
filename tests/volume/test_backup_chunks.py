"""The backup chunker (issue 18): compression choice, and a restore that refuses a corrupt,
missing or oversized backup before it claims success."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from overcast.errors import DriverError
from overcast.plugins import PluginManager
from overcast.testing.fakes.backup import FakeBackupTarget
from overcast.types import Backend, BackupJob, BackupTarget, DriverKind, LocalDevice
from overcast.volume import backup_chunks
from overcast.volume.backup_chunks import ChunkStore, backup_device, compress, decompress, restore_device

MiB = 1024 * 1024


def test_compression_is_used_only_where_it_pays() -> None:
    text = b"overcast " * (MiB // 9)
    for method in ("zstd", "zlib"):
        packed, used = compress(text, method)
        assert used == method and len(packed) < len(text) // 10
        assert decompress(packed, used, len(text)) == text
        noise = os.urandom(2 * MiB)
        assert compress(noise, method) == (noise, "none")  # sampled: not worth compressing


@pytest.fixture
def setup(tmp_path: Path) -> tuple[FakeBackupTarget, ChunkStore, Path, Path]:
    fake = FakeBackupTarget()
    pm = PluginManager()
    pm.registry.add(DriverKind.BACKUP, "fake", fake)
    target = BackupTarget("p", "c")
    store = ChunkStore(
        pm.driver("backup", "fake"),
        Backend(DriverKind.BACKUP, "backup", "fake"),
        BackupJob("b", target, "v/b", chunk_size=MiB),
    )
    store.driver.prepare(backend=store.backend, target=target)
    src, dst = tmp_path / "src", tmp_path / "dst"
    with open(src, "wb") as f:
        f.truncate(4 * MiB)
        f.seek(MiB)
        f.write(b"data" * 1000)
    with open(dst, "wb") as f:
        f.truncate(4 * MiB)
    backup_device(LocalDevice(str(src), 4 * MiB), store, "v")
    return fake, store, src, dst


def test_a_corrupt_or_missing_chunk_fails_the_restore(setup: tuple[FakeBackupTarget, ChunkStore, Path, Path]) -> None:
    fake, store, _, dst = setup
    objects = fake.containers[("p", "c")]
    assert sorted(objects) == ["v/b-00002", "v/b_metadata"]
    good = objects["v/b-00002"]
    objects["v/b-00002"] = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(DriverError, match="does not match its xxh3_128"):
        restore_device(LocalDevice(str(dst), 4 * MiB, writable=True), store)
    del objects["v/b-00002"]
    with pytest.raises(DriverError, match="is missing"):
        restore_device(LocalDevice(str(dst), 4 * MiB, writable=True), store)
    objects["v/b-00002"] = good
    restore_device(LocalDevice(str(dst), 4 * MiB, writable=True), store)


def test_a_small_device_or_a_foreign_index_is_refused(setup: tuple[FakeBackupTarget, ChunkStore, Path, Path]) -> None:
    fake, store, _, dst = setup
    with pytest.raises(DriverError, match="holds"):
        restore_device(LocalDevice(str(dst), 2 * MiB, writable=True), store)
    fake.containers[("p", "c")]["v/b_metadata"] = json.dumps({"version": 99}).encode()
    with pytest.raises(DriverError, match="not an Overcast chunk index"):
        restore_device(LocalDevice(str(dst), 4 * MiB, writable=True), store)


def test_a_sha256_backup_still_restores_and_takes_incrementals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Backups made when chunks were listed by sha256: restored, checked and used as the parent
    of an incremental with their own hash (an unchanged chunk is reused, a changed one written
    and listed by sha256 too: a chain of incrementals keeps its full backup's hash)."""
    fake = FakeBackupTarget()
    pm = PluginManager()
    pm.registry.add(DriverKind.BACKUP, "fake", fake)
    target = BackupTarget("p", "c")
    backend = Backend(DriverKind.BACKUP, "backup", "fake")
    src, dst = tmp_path / "src", tmp_path / "dst"
    with open(src, "wb") as f:
        f.write(os.urandom(3 * MiB))
    with open(dst, "wb") as f:
        f.truncate(3 * MiB)
    old = ChunkStore(pm.driver("backup", "fake"), backend, BackupJob("old", target, "v/old", chunk_size=MiB))
    old.driver.prepare(backend=backend, target=target)
    with monkeypatch.context() as m:
        m.setattr(backup_chunks, "DIGEST", "sha256")
        backup_device(LocalDevice(str(src), 3 * MiB), old, "v")
    objects = fake.containers[("p", "c")]
    listed = json.loads(objects["v/old_metadata"])["chunks"]
    assert all("sha256" in c and "xxh3_128" not in c for c in listed)
    restore_device(LocalDevice(str(dst), 3 * MiB, writable=True), old)
    assert dst.read_bytes() == src.read_bytes()

    with open(src, "r+b") as f:
        f.seek(MiB + 5)
        f.write(b"changed")
    job = BackupJob("new", target, "v/new", chunk_size=MiB, parent_prefix="v/old")
    result = backup_device(LocalDevice(str(src), 3 * MiB), ChunkStore(old.driver, backend, job), "v")
    assert (result.reused_chunks, result.objects) == (2, 2)  # one chunk and the index written
    listed = json.loads(objects["v/new_metadata"])["chunks"]
    assert [c["object"] for c in listed] == ["v/old-00001", "v/new-00002", "v/old-00003"]
    assert all("sha256" in c and "xxh3_128" not in c for c in listed)
    new = ChunkStore(old.driver, backend, BackupJob("new", target, "v/new"))
    restore_device(LocalDevice(str(dst), 3 * MiB, writable=True), new)
    assert dst.read_bytes() == src.read_bytes()

    bad = objects["v/old-00003"]
    objects["v/old-00003"] = bad[:-1] + bytes([bad[-1] ^ 1])
    with pytest.raises(DriverError, match="does not match its sha256"):
        restore_device(LocalDevice(str(dst), 3 * MiB, writable=True), new)


@pytest.mark.parametrize("direct", [True, False])
def test_a_restore_writes_whole_chunks_direct_and_the_tail_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    """Aligned chunks go out with O_DIRECT (or buffered where it is refused), an odd tail
    buffered: the volume is byte-identical either way."""
    if not direct:  # as on a file system without O_DIRECT
        real_open = os.open

        def no_direct(path: str, flags: int, mode: int = 0o777) -> int:
            if flags & os.O_DIRECT:
                raise OSError(errno.EINVAL, "Invalid argument")
            return real_open(path, flags, mode)

        monkeypatch.setattr(os, "open", no_direct)
    fake = FakeBackupTarget()
    pm = PluginManager()
    pm.registry.add(DriverKind.BACKUP, "fake", fake)
    target = BackupTarget("p", "c")
    backend = Backend(DriverKind.BACKUP, "backup", "fake")
    size = 3 * MiB + 100
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(os.urandom(size))
    with open(dst, "wb") as f:
        f.truncate(size)
    store = ChunkStore(pm.driver("backup", "fake"), backend, BackupJob("b", target, "v/b", chunk_size=MiB))
    store.driver.prepare(backend=backend, target=target)
    backup_device(LocalDevice(str(src), size), store, "v")
    went_direct: list[bool] = []  # at the end, before the descriptors close
    real = backup_chunks.ChunkWriter.sync
    monkeypatch.setattr(
        backup_chunks.ChunkWriter, "sync", lambda self: (went_direct.append(self.direct is not None), real(self))[1]
    )
    restore_device(LocalDevice(str(dst), size, writable=True), store)
    assert dst.read_bytes() == src.read_bytes()
    assert went_direct == [direct]


class GetOnlyTarget(FakeBackupTarget):
    """A backup target without the optional ``get_into``."""

    backup_get_into = None  # type: ignore[assignment]


def test_a_target_without_get_into_restores_through_get(tmp_path: Path) -> None:
    pm = PluginManager()
    pm.registry.add(DriverKind.BACKUP, "getonly", GetOnlyTarget())
    driver = pm.driver("backup", "getonly")
    assert not driver.supports("get_into")
    target = BackupTarget("p", "c")
    store = ChunkStore(
        driver, Backend(DriverKind.BACKUP, "backup", "getonly"), BackupJob("b", target, "v/b", chunk_size=MiB)
    )
    driver.prepare(backend=store.backend, target=target)
    size = 3 * MiB
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(os.urandom(size // 2) + b"overcast" * (size // 16))  # one chunk compresses
    with open(dst, "wb") as f:
        f.truncate(size)
    backup_device(LocalDevice(str(src), size), store, "v")
    assert {c["compression"] for c in json.loads(store.get("v/b_metadata"))["chunks"]} == {"none", "zstd"}
    restore_device(LocalDevice(str(dst), size, writable=True), store)
    assert dst.read_bytes() == src.read_bytes()
