"""The ``fs`` image store: temp-fsync-rename writes, ranged reads, location checks, and
clean-up of abandoned temp files."""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from overcast_storage_fs import durable, images as fs_images
from overcast_storage_fs.images import FsImageStore

from overcast.errors import BadRequest, DriverError, NotFound
from overcast.types import Backend, DriverKind


@pytest.fixture
def target(tmp_path: Path) -> Backend:
    return Backend(DriverKind.IMAGE_STORE, "image_store", "fs", {"path": str(tmp_path / "store")}, str(tmp_path))


@pytest.fixture
def store() -> FsImageStore:
    return FsImageStore()


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_add_get_size_delete(store, target, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 5)
    stored = store.img_add(backend=target, image_id="img-1", data=[data[:1000], data[1000:]], size=len(data))
    assert stored.location == f"file://{tmp_path / 'store' / 'img-1'}" and stored.size == len(data)
    assert store.img_get_size(backend=target, location=stored.location) == len(data)
    assert b"".join(store.img_get(backend=target, location=stored.location, offset=0, length=None)) == data
    part = store.img_get(backend=target, location=stored.location, offset=1024 * 1024 - 3, length=2 * 1024 * 1024)
    assert b"".join(part) == data[1024 * 1024 - 3 : 3 * 1024 * 1024 - 3]
    assert b"".join(store.img_get(backend=target, location=stored.location, offset=len(data), length=10)) == b""
    assert store.img_delete(backend=target, location=stored.location) is True
    assert store.img_delete(backend=target, location=stored.location) is True
    with pytest.raises(NotFound):
        store.img_get(backend=target, location=stored.location, offset=0, length=None)
    with pytest.raises(NotFound):
        store.img_get_size(backend=target, location=stored.location)


@pytest.mark.parametrize("direct", [True, False], ids=["o_direct", "buffered"])
def test_block_boundaries_and_aligned_ranges(store, target, tmp_path, monkeypatch, direct):
    """Writes gather odd-sized chunks into O_DIRECT blocks (the short last one buffered);
    reads from aligned offsets go through O_DIRECT, several reads in flight. Both paths
    fall back to the page cache where the file system refuses O_DIRECT."""
    if direct:
        (tmp_path / "probe").write_bytes(b"")
        probe = fs_images._open_direct(tmp_path / "probe")
        if probe is None:
            pytest.skip("this file system refuses O_DIRECT")
        probe.close()
    else:
        monkeypatch.setattr(fs_images, "set_direct", lambda fd, on: False)
        monkeypatch.setattr(fs_images, "_open_direct", lambda path: None)
    block = durable.DIRECT_BLOCK
    data = os.urandom(2 * block + 3 * 4096 + 7)
    cuts = [0, 1, 65536, block - 1, block + 5, 2 * block, len(data)]
    stored = store.img_add(
        backend=target, image_id="img-9", data=[data[a:b] for a, b in zip(cuts, cuts[1:])], size=len(data)
    )
    assert stored.size == len(data)

    def read(offset, length):
        return b"".join(store.img_get(backend=target, location=stored.location, offset=offset, length=length))

    assert read(0, None) == data
    chunk = fs_images.READ_CHUNK
    for offset, length in ((4096, chunk), (chunk, None), (0, chunk + 1), (8192, 10), (2 * chunk, 4096 + 7)):
        assert read(offset, length) == data[offset : None if length is None else offset + length]
    assert read(len(data) - 7, None) == data[-7:]
    fds = len(os.listdir("/proc/self/fd"))
    for offset in (0, 1):  # a read never started leaves no file open
        store.img_get(backend=target, location=stored.location, offset=offset, length=None)
    assert len(os.listdir("/proc/self/fd")) == fds


def test_aligned_buffers_are_written_from_where_they_are(store, target):
    """An anonymous map (page-aligned) at a block-aligned file offset is written as it is;
    the same kind of buffer after a short chunk is gathered like any other data."""
    block = durable.DIRECT_BLOCK
    first, second = mmap.mmap(-1, block), mmap.mmap(-1, block)
    first[:] = os.urandom(block)
    second[:] = os.urandom(block)
    middle = os.urandom(100)
    assert durable.aligned(memoryview(first)) and not durable.aligned(memoryview(middle))
    stored = store.img_add(backend=target, image_id="img-10", data=[first, middle, second, first], size=None)
    expected = first[:] + middle + second[:] + first[:]
    assert stored.size == len(expected)
    assert b"".join(store.img_get(backend=target, location=stored.location, offset=0, length=None)) == expected


def test_failing_stream_leaves_nothing(store, target, tmp_path):
    def broken():
        yield b"x" * 1000
        raise ValueError("client went away")

    with pytest.raises(ValueError):
        store.img_add(backend=target, image_id="img-2", data=broken(), size=None)
    assert _files(tmp_path / "store") == []


def test_locations_outside_the_store_are_refused(store, target):
    for location in ("file:///etc/passwd", "file:///tmp/../etc/passwd", "http://x/img", "s3://bucket/img"):
        with pytest.raises(BadRequest):
            store.img_get(backend=target, location=location, offset=0, length=None)
    with pytest.raises(BadRequest):
        store.img_add(backend=target, image_id="../escape", data=[b"x"], size=1)


def test_abandoned_temp_files_are_swept(store, target, tmp_path, monkeypatch):
    tmp_dir = tmp_path / "store" / ".tmp"
    tmp_dir.mkdir(parents=True)
    stale = tmp_dir / "dead.1234"
    stale.write_bytes(b"half an image")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    # a live writer in another process holds its lock: it must survive the sweep
    live = tmp_dir / "live.5678"
    live.write_bytes(b"being written")
    os.utime(live, (old, old))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl,os,sys,time; fd=os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX);"
            " print('locked', flush=True); time.sleep(30)",
            str(live),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        store.img_add(backend=target, image_id="img-3", data=[b"new"], size=3)
        assert not stale.exists()
        assert live.exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("unnamed", [True, False], ids=["o_tmpfile", "named-temp-fallback"])
def test_crash_mid_write_never_publishes(tmp_path, target, monkeypatch, unnamed):
    """A writer killed with SIGKILL mid-stream never publishes the image. With ``O_TMPFILE``
    it leaves no file at all; in the named-temp fallback its temp file is swept at start."""
    code = (
        "import sys, time\n"
        "from overcast_storage_fs import images\n"
        "from overcast.types import Backend, DriverKind\n"
        + ("" if unnamed else "images._open_unnamed = lambda tmp_dir: None\n")
        + f"b = Backend(DriverKind.IMAGE_STORE, 'image_store', 'fs', {{'path': {str(tmp_path / 'store')!r}}})\n"
        "def slow():\n"
        "    yield b'x' * 4096\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
        "    yield b'y'\n"
        "images.FsImageStore().img_add(backend=b, image_id='img-4', data=slow(), size=None)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.kill()
        proc.wait()
    store_dir = tmp_path / "store"
    assert not (store_dir / "img-4").exists()
    left = [p.name.split(".")[0] for p in (store_dir / ".tmp").iterdir()]
    assert left == ([] if unnamed else ["img-4"])
    monkeypatch.setattr(fs_images, "ABANDONED_AFTER", 0.0)
    assert FsImageStore().img_init_store(backend=target) is True  # what a restart does
    assert _files(store_dir) == []


def test_unnamed_upload_replaces_an_orphan_of_the_same_name(store, target, tmp_path):
    """Data published just before a crash, whose image went back to ``queued``, is replaced
    by the retried upload instead of failing it."""
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "img-6").write_bytes(b"orphan")
    stored = store.img_add(backend=target, image_id="img-6", data=[b"fresh", b" data"], size=None)
    assert b"".join(store.img_get(backend=target, location=stored.location, offset=0, length=None)) == b"fresh data"
    assert _files(tmp_path / "store") == ["img-6"]


def test_init_store_refuses_an_unusable_path(store, tmp_path):
    (tmp_path / "file").write_bytes(b"")
    bad = Backend(DriverKind.IMAGE_STORE, "image_store", "fs", {"path": str(tmp_path / "file" / "x")}, str(tmp_path))
    with pytest.raises(DriverError, match="cannot use"):
        store.img_init_store(backend=bad)
