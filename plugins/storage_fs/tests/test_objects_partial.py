"""Partial uploads (a writer killed mid-transfer) are removed when a process first uses the
store and by the audit, while an upload in flight is never touched (issue 22, part 7)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from overcast.plugins import DriverCaller, PluginManager
from overcast.testing.contract.object_store import chunks
from overcast.types import Backend, DriverKind
from overcast_storage_fs import plugin
from overcast_storage_fs.objects_audit import remove_partial_uploads

ACCOUNT, CONTAINER = "AUTH_p1", "c1"


def put(driver: DriverCaller, target: Backend, name: str, content: bytes, **kw: object) -> object:
    args = dict(backend=target, account=ACCOUNT, container=CONTAINER, name=name, data=chunks(content, 4096),
                content_type="text/plain", metadata={}, expected_etag=None)
    args.update(kw)
    return driver.put(**args)


def read(driver: DriverCaller, target: Backend, name: str) -> bytes:
    _info, body = driver.get(backend=target, account=ACCOUNT, container=CONTAINER, name=name, byte_range=None)
    return b"".join(body)


def data_files(target: Backend) -> list[Path]:
    return sorted((Path(target.options["path"]) / "data").rglob("*.data"))


def fresh_driver() -> DriverCaller:
    """A new process's view of the store (its own driver object)."""
    pm = PluginManager()
    pm.register_plugin(plugin, name="storage_fs")
    pm.check_pending()
    return pm.driver(DriverKind.OBJECT_STORE, "fs")


@pytest.fixture
def target(tmp_path: Path) -> Backend:
    return Backend(DriverKind.OBJECT_STORE, "object_store", "fs", {"path": str(tmp_path / "objects"), "fsync": False})


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
        in_flight = [p for p in files if p.read_bytes() == b"first part "]
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
