"""The ``fs`` object store: the object-store contract, plus what only this driver
promises (hashed layout, crash safety, corruption quarantine, audit)."""

from __future__ import annotations

import errno
import hashlib
import json
import mmap
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from overcast.errors import BadRequest, Conflict, DriverError, NotFound
from overcast.plugins import DriverCaller, PluginManager
from overcast.testing.contract.object_store import ObjectStoreContract, chunks
from overcast.types import Backend, ByteRange, DriverKind, ObjectSubdir
from overcast_storage_fs import durable, objects, plugin
from overcast_storage_fs.objects_audit import remove_partial_uploads

ACCOUNT, CONTAINER = "AUTH_p1", "c1"


@pytest.fixture
def driver() -> DriverCaller:
    pm = PluginManager()
    pm.register_plugin(plugin, name="storage_fs")
    pm.check_pending()
    return pm.driver(DriverKind.OBJECT_STORE, "fs")


@pytest.fixture
def target(tmp_path: Path) -> Backend:
    return Backend(DriverKind.OBJECT_STORE, "object_store", "fs", {"path": str(tmp_path / "objects"), "fsync": True})


class TestFsObjectStoreContract(ObjectStoreContract):
    pass


def put(driver: DriverCaller, target: Backend, name: str, content: bytes, **kw: object) -> object:
    args = dict(
        backend=target,
        account=ACCOUNT,
        container=CONTAINER,
        name=name,
        data=chunks(content, 4096),
        content_type="text/plain",
        metadata={},
        expected_etag=None,
    )
    args.update(kw)
    return driver.put(**args)


def read(driver: DriverCaller, target: Backend, name: str, rng: ByteRange | None = None) -> bytes:
    _info, body = driver.get(backend=target, account=ACCOUNT, container=CONTAINER, name=name, byte_range=rng)
    return b"".join(body)


def data_files(target: Backend) -> list[Path]:
    return sorted(p for p in (Path(target.options["path"]) / "data").rglob("*.data"))


def test_layout_is_hashed_and_names_never_become_paths(driver: DriverCaller, target: Backend) -> None:
    for name in ["../../../../etc/passwd", "/abs/olute", "a/b/c", "x" * 1024]:
        put(driver, target, name, name.encode()[:10])
    root = Path(target.options["path"])
    for path in data_files(target):
        rel = path.relative_to(root / "data")
        assert len(rel.parts) == 3 and rel.parts[0] == path.name[:2] and rel.parts[1] == path.name[2:4]
    assert not any("passwd" in str(p) for p in root.rglob("*"))
    assert read(driver, target, "../../../../etc/passwd") == b"../../../."
    assert read(driver, target, "/abs/olute") == b"/abs/olute"


@pytest.mark.parametrize("bad", ["", "nul\x00", "x" * 1025, "\udcff"])
def test_bad_object_names_are_refused(driver: DriverCaller, target: Backend, bad: str) -> None:
    with pytest.raises(BadRequest):
        put(driver, target, bad, b"x")
    assert data_files(target) == []


def test_overwrite_removes_the_old_file(driver: DriverCaller, target: Backend) -> None:
    put(driver, target, "o", b"one")
    put(driver, target, "o", b"two")
    assert len(data_files(target)) == 1 and read(driver, target, "o") == b"two"


def test_failed_stream_stores_nothing_and_keeps_old(driver: DriverCaller, target: Backend) -> None:
    put(driver, target, "o", b"old")

    def broken() -> object:
        yield b"new-partial"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        put(driver, target, "o", b"", data=broken())
    assert read(driver, target, "o") == b"old" and len(data_files(target)) == 1


def test_corrupt_small_object_is_quarantined_never_served(driver: DriverCaller, target: Backend) -> None:
    put(driver, target, "o", b"precious data")
    path = data_files(target)[0]
    path.write_bytes(b"precious dat4")  # same size, different content
    with pytest.raises(DriverError, match="quarantined"):
        read(driver, target, "o")
    with pytest.raises(NotFound):
        driver.head(backend=target, account=ACCOUNT, container=CONTAINER, name="o")
    quarantine = Path(target.options["path"]) / "quarantine"
    assert (quarantine / path.name).exists()
    assert json.loads((quarantine / f"{path.name}.reason").read_text())["name"] == "o"


def test_corrupt_large_object_withholds_its_last_chunk(driver: DriverCaller, target: Backend) -> None:
    data = os.urandom(3 * objects.CHUNK + 10)
    put(driver, target, "big", data)
    path = data_files(target)[0]
    with open(path, "r+b") as f:
        f.seek(objects.CHUNK + 5)
        f.write(b"\x00\x01\x02")
    _info, body = driver.get(backend=target, account=ACCOUNT, container=CONTAINER, name="big", byte_range=None)
    received = b""
    with pytest.raises(DriverError, match="quarantined"):
        for chunk in body:
            received += chunk
    assert len(received) < len(data)
    assert (
        driver.list(
            backend=target,
            account=ACCOUNT,
            container=CONTAINER,
            prefix=None,
            delimiter=None,
            marker=None,
            end_marker=None,
            limit=10,
            reverse=False,
        )
        == []
    )


def test_large_object_ranges(driver: DriverCaller, target: Backend) -> None:
    data = os.urandom(2 * objects.CHUNK + 100)
    put(driver, target, "big", data)
    assert (
        read(driver, target, "big", ByteRange(objects.CHUNK - 3, objects.CHUNK + 3))
        == data[objects.CHUNK - 3 : objects.CHUNK + 4]
    )
    assert read(driver, target, "big") == data


def test_audit_finds_corruption_missing_files_and_orphans(driver: DriverCaller, target: Backend) -> None:
    for i in range(5):
        put(driver, target, f"o{i}", f"content {i}".encode())
    files = data_files(target)
    files[0].write_bytes(b"garbage!!")  # same size as "content 0"
    files[1].unlink()
    orphan = files[2].parent / "ffffffffffffffffffffffffffffffff.0.0.data"
    orphan.write_bytes(b"left by a crash")
    os.utime(orphan, (1, 1))
    report = driver.audit(backend=target)
    assert report["objects"] == 5 and report["ok"] == 3
    assert report["corrupt"] == 1 and report["missing"] == 1 and report["orphans_removed"] == 1
    assert not orphan.exists()
    names = [
        e.name
        for e in driver.list(
            backend=target,
            account=ACCOUNT,
            container=CONTAINER,
            prefix=None,
            delimiter=None,
            marker=None,
            end_marker=None,
            limit=10,
            reverse=False,
        )
    ]
    assert len(names) == 3
    assert driver.audit(backend=target)["ok"] == 3


def test_stats_and_drop_container(driver: DriverCaller, target: Backend) -> None:
    assert driver.stats(backend=target, account=ACCOUNT, container=CONTAINER) == {"objects": 0, "bytes": 0}
    put(driver, target, "a", b"12345")
    put(driver, target, "b", b"123")
    put(driver, target, "a", b"1")
    assert driver.stats(backend=target, account=ACCOUNT, container=CONTAINER) == {"objects": 2, "bytes": 4}
    with pytest.raises(Conflict):
        driver.drop_container(backend=target, account=ACCOUNT, container=CONTAINER)
    for name in ("a", "b"):
        driver.delete(backend=target, account=ACCOUNT, container=CONTAINER, name=name)
    assert driver.stats(backend=target, account=ACCOUNT, container=CONTAINER) == {"objects": 0, "bytes": 0}
    assert driver.drop_container(backend=target, account=ACCOUNT, container=CONTAINER) is True
    assert list((Path(target.options["path"]) / "index").rglob("*.db")) == []


def test_listing_pages_through_pseudo_folders(driver: DriverCaller, target: Backend) -> None:
    names = [f"dir{d}/file{f}" for d in range(3) for f in range(4)] + ["top1", "top2", "dir0"]
    for name in names:
        put(driver, target, name, b"x")

    def page(**kw: object) -> list[str]:
        args = dict(prefix=None, delimiter=None, marker=None, end_marker=None, limit=100, reverse=False)
        args.update(kw)
        out = driver.list(backend=target, account=ACCOUNT, container=CONTAINER, **args)
        return [e.subdir if isinstance(e, ObjectSubdir) else e.name for e in out]

    assert page(delimiter="/") == ["dir0", "dir0/", "dir1/", "dir2/", "top1", "top2"]
    assert page(delimiter="/", reverse=True) == ["top2", "top1", "dir2/", "dir1/", "dir0/", "dir0"]
    assert page(delimiter="/", limit=2) == ["dir0", "dir0/"]
    # swiftclient resumes after a pseudo-folder with marker=<folder>: it must not come back
    assert page(delimiter="/", marker="dir0/") == ["dir1/", "dir2/", "top1", "top2"]
    assert page(delimiter="/", marker="dir2/", limit=1) == ["top1"]
    assert page(prefix="dir1/", marker="dir1/file1", limit=2) == ["dir1/file2", "dir1/file3"]
    assert page(prefix="dir1/", reverse=True, marker="dir1/file2") == ["dir1/file1", "dir1/file0"]
    assert page(prefix="dir1/", end_marker="dir1/file2") == ["dir1/file0", "dir1/file1"]
    everything, marker = [], None
    while True:
        got = page(limit=4, marker=marker)
        if not got:
            break
        everything += got
        marker = got[-1]
    assert everything == sorted(names)


def test_concurrent_writers_of_one_name_leave_one_consistent_version(driver: DriverCaller, target: Backend) -> None:
    payloads = [os.urandom(50_000) for _ in range(8)]
    threads = [threading.Thread(target=put, args=(driver, target, "hot", p)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = read(driver, target, "hot")
    assert got in payloads
    head = driver.head(backend=target, account=ACCOUNT, container=CONTAINER, name="hot")
    assert head.etag == hashlib.md5(got).hexdigest()
    assert len(data_files(target)) == 1


def test_index_is_sqlite_wal_per_container(driver: DriverCaller, target: Backend) -> None:
    put(driver, target, "a", b"x")
    put(driver, target, "a", b"x", container="other")
    dbs = list((Path(target.options["path"]) / "index").rglob("*.db"))
    assert len(dbs) == 2
    conn = sqlite3.connect(dbs[0])
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- partial uploads (a writer killed mid-transfer) -----------------------------------------
# removed when a process first uses the store and by the audit; an upload in flight never is


def fresh_driver() -> DriverCaller:
    """A new process's view of the store (its own driver object)."""
    pm = PluginManager()
    pm.register_plugin(plugin, name="storage_fs")
    pm.check_pending()
    return pm.driver(DriverKind.OBJECT_STORE, "fs")


def sweeps_done() -> None:
    """Wait for the background sweeps that a store's first use started."""
    for thread in threading.enumerate():
        if thread.name == "object-partial-sweep":
            thread.join(10)


def partial(target: Backend, like: Path, age: float = 60) -> Path:
    """A data file as a killed writer leaves it: no index row, no lock."""
    path = like.with_name(like.name.replace(".data", "") + ".dead.data")
    path.write_bytes(b"half an upl")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_first_use_by_a_process_removes_partial_uploads(target: Backend) -> None:
    first = fresh_driver()
    put(first, target, "kept", b"whole object")
    [kept] = data_files(target)
    dead = partial(target, kept)
    second = fresh_driver()  # the restarted server
    assert read(second, target, "kept") == b"whole object"
    deadline = time.monotonic() + 10
    while dead.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not dead.exists() and data_files(target) == [kept]


def test_an_upload_in_flight_is_never_taken_for_a_partial_one(target: Backend) -> None:
    driver = fresh_driver()
    put(driver, target, "other", b"x")
    sweeps_done()
    gate, started = threading.Event(), threading.Event()

    def slow_body():
        yield b"first part "
        started.set()
        gate.wait(10)
        yield b"second part"

    done: list[object] = []
    writer = threading.Thread(target=lambda: done.append(put(driver, target, "slow", b"", data=slow_body())))
    writer.start()
    try:
        assert started.wait(5)
        time.sleep(0.1)
        files = data_files(target)
        # the in-flight upload's file (its first part may still be staged for a direct write)
        in_flight = [p for p in files if p.read_bytes() in (b"", b"first part ")]
        assert len(in_flight) == 1
        old = time.time() - 600
        os.utime(in_flight[0], (old, old))  # even an old-looking one: its writer holds it
        assert remove_partial_uploads(Path(target.options["path"])) == 0
        assert in_flight[0].exists()
    finally:
        gate.set()
        writer.join(10)
    assert done and read(driver, target, "slow") == b"first part second part"


def test_audit_removes_partial_uploads_without_waiting_for_the_grace_period(target: Backend) -> None:
    driver = fresh_driver()
    put(driver, target, "kept", b"whole")
    sweeps_done()
    [kept] = data_files(target)
    dead = partial(target, kept, age=30)  # younger than the orphan grace (600 s)
    report = driver.audit(backend=target)
    assert report["orphans_removed"] == 1 and not dead.exists() and kept.exists()
    young = partial(target, kept, age=0)  # too new to judge: its writer may not hold it yet
    assert remove_partial_uploads(Path(target.options["path"])) == 0 and young.exists()


@pytest.mark.parametrize("refuse_direct", [False, True])
def test_direct_writes_keep_every_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refuse_direct: bool) -> None:
    """Whole blocks past the page cache, the tail through it; a file system that refuses
    O_DIRECT gets the same bytes written buffered."""
    if refuse_direct:
        real = durable.fcntl.fcntl

        def no_direct(fd: int, cmd: int, arg: int = 0) -> int:
            if cmd == durable.fcntl.F_SETFL and arg & os.O_DIRECT:
                raise OSError(errno.EINVAL, "Invalid argument")
            return real(fd, cmd, arg)

        monkeypatch.setattr(durable.fcntl, "fcntl", no_direct)
    block = durable.DIRECT_BLOCK
    for size in (0, 5, block, block + 7, 3 * block - 1):
        content = os.urandom(size)
        path = tmp_path / f"f{size}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            with durable.DirectWriter(fd) as writer:
                for start in range(0, size, 100_003):  # parts that straddle the blocks
                    writer.write(content[start : start + 100_003])
                writer.finish()
            os.fdatasync(fd)
        finally:
            os.close(fd)
        assert path.read_bytes() == content
        assert writer.direct is (not refuse_direct or size < block)


def test_direct_writes_go_on_behind_the_caller_and_report_their_errors(tmp_path: Path) -> None:
    """Aligned blocks are written as they are, one at a time behind the caller, in order; a
    write that failed in the background fails the caller's next step."""
    block = durable.DIRECT_BLOCK
    buffers = [mmap.mmap(-1, block) for _ in range(3)]
    for i, buffer in enumerate(buffers):
        buffer[:] = bytes([i + 1]) * block
    path = tmp_path / "aligned"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        with durable.DirectWriter(fd) as writer:
            for buffer in buffers:
                writer.write(memoryview(buffer))
            writer.write(b"tail")
            writer.finish()
    finally:
        os.close(fd)
    assert path.read_bytes() == b"".join(bytes(b) for b in buffers) + b"tail"
    fd = os.open(path, os.O_RDONLY)  # every write fails (EBADF), in the background
    try:
        with pytest.raises(OSError), durable.DirectWriter(fd) as writer:
            writer.write(memoryview(buffers[0]))
            writer.finish()
    finally:
        os.close(fd)
