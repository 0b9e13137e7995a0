"""The built-in ``objectstore`` backup target passes the backup contract against this
cloud's own Swift API (in process, the user's token), and another project's token is
refused by the object service."""

from __future__ import annotations

import dataclasses
import hashlib
import mmap
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from overcast.errors import DriverError, NotFound
from overcast.plugins import PluginManager
from overcast.testing.contract import BackupContract
from overcast.types import Backend, BackupTarget, DriverKind
from overcast.volume.backup_objectstore import ObjectStoreBackupTarget


@pytest.fixture
def driver(cloud: Any) -> Any:
    pm = PluginManager()
    pm.registry.add(DriverKind.BACKUP, "objectstore", ObjectStoreBackupTarget(client=cloud.client))
    return pm.driver(DriverKind.BACKUP, "objectstore")


@pytest.fixture
def target() -> Backend:
    return Backend(DriverKind.BACKUP, "backup", "objectstore", {"url": "", "timeout": 30.0, "verify_tls": True})


class TestObjectStoreTarget(BackupContract):
    @pytest.fixture
    def location(self, cloud: Any) -> BackupTarget:
        project, _, token = cloud.new_project_user(role="member")
        return BackupTarget(
            project_id=project,
            container="volumebackups",
            endpoint=f"http://testserver/object/v1/AUTH_{project}",
            auth_token=token,
        )


def test_objects_are_the_projects_own(cloud: Any, driver: Any, target: Backend) -> None:
    project, _, token = cloud.new_project_user(role="member")
    _, _, other_token = cloud.new_project_user(role="member")
    mine = BackupTarget(project, "volumebackups", f"http://testserver/object/v1/AUTH_{project}", token)
    driver.prepare(backend=target, target=mine)
    driver.put(backend=target, target=mine, name="chunk-00001", data=b"data")
    r = cloud.request("GET", f"/object/v1/AUTH_{project}/volumebackups?format=json", token=token)
    assert [o["name"] for o in r.json()] == ["chunk-00001"]  # an ordinary object of the project
    intruder = BackupTarget(project, "volumebackups", mine.endpoint, other_token)
    with pytest.raises(DriverError, match="refused the credentials"):
        driver.get(backend=target, target=intruder, name="chunk-00001")
    with pytest.raises(DriverError, match="refused the credentials"):
        driver.put(backend=target, target=intruder, name="chunk-00002", data=b"x")
    templated = Backend(
        DriverKind.BACKUP, "backup", "objectstore", {"url": "http://testserver/object/v1/AUTH_{project_id}"}
    )
    assert (
        driver.get(backend=templated, target=BackupTarget(project, "volumebackups", "", token), name="chunk-00001")
        == b"data"
    )


@pytest.fixture
def served(cloud: Any) -> Iterator[str]:
    """The in-process cloud's app on a real loopback socket (uvicorn in a thread), for the
    chunk bodies' ``http.client`` connections; its base URL."""
    server = uvicorn.Server(uvicorn.Config(cloud.app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, name="served-cloud", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@pytest.fixture
def socket_target() -> ObjectStoreBackupTarget:
    return ObjectStoreBackupTarget()


@pytest.fixture
def socket_driver(socket_target: ObjectStoreBackupTarget) -> Any:
    pm = PluginManager()
    pm.registry.add(DriverKind.BACKUP, "objectstore", socket_target)
    return pm.driver(DriverKind.BACKUP, "objectstore")


class TestObjectStoreTargetOverSockets(BackupContract):
    """The same contract with the chunk bodies on ``http.client`` connections (the deployed
    path: no in-process client)."""

    @pytest.fixture
    def driver(self, socket_driver: Any) -> Any:
        return socket_driver

    @pytest.fixture
    def location(self, cloud: Any, served: str) -> BackupTarget:
        project, _, token = cloud.new_project_user(role="member")
        return BackupTarget(project, "volumebackups", f"{served}/object/v1/AUTH_{project}", token)


def test_bodies_take_the_wire_and_are_read_into_the_buffer(
    cloud: Any, served: str, socket_driver: Any, target: Backend
) -> None:
    project, _, token = cloud.new_project_user(role="member")
    _, _, other_token = cloud.new_project_user(role="member")
    mine = BackupTarget(project, "volumebackups", f"{served}/object/v1/AUTH_{project}", token)
    socket_driver.prepare(backend=target, target=mine)
    data = os.urandom(3 * 1024 * 1024 + 5)
    socket_driver.put(backend=target, target=mine, name="c-00001", data=memoryview(bytearray(data)))
    buffer = memoryview(mmap.mmap(-1, 4 * 1024 * 1024))
    for _ in range(2):  # the second on the kept-alive connection
        assert socket_driver.get_into(backend=target, target=mine, name="c-00001", buffer=buffer) == len(data)
        assert buffer[: len(data)] == data
    socket_driver.put(backend=target, target=mine, name="empty", data=b"")
    for _ in range(2):  # an empty body leaves the connection reusable
        assert socket_driver.get_into(backend=target, target=mine, name="empty", buffer=buffer) == 0
    r = cloud.request("GET", f"/object/v1/AUTH_{project}/volumebackups/c-00001", token=token)
    assert r.content == data and r.headers["etag"] == hashlib.md5(data).hexdigest()  # Swift's own ETag
    with pytest.raises(DriverError, match="holds 3145733 bytes, more than the 1048576 expected"):
        socket_driver.get_into(backend=target, target=mine, name="c-00001", buffer=buffer[: 1024 * 1024])
    assert buffer[1024 * 1024 : len(data)] == data[1024 * 1024 :]  # nothing written past the buffer given
    with pytest.raises(NotFound):
        socket_driver.get_into(backend=target, target=mine, name="c-00002", buffer=buffer)
    intruder = dataclasses.replace(mine, auth_token=other_token)
    with pytest.raises(DriverError, match="refused the credentials"):
        socket_driver.put(backend=target, target=intruder, name="c-00002", data=b"x")
    with pytest.raises(DriverError, match="refused the credentials"):
        socket_driver.get_into(backend=target, target=intruder, name="c-00001", buffer=buffer)


def test_a_connection_the_server_closed_is_replaced(
    cloud: Any, served: str, socket_target: ObjectStoreBackupTarget, socket_driver: Any, target: Backend
) -> None:
    project, _, token = cloud.new_project_user(role="member")
    mine = BackupTarget(project, "volumebackups", f"{served}/object/v1/AUTH_{project}", token)
    socket_driver.prepare(backend=target, target=mine)
    socket_driver.put(backend=target, target=mine, name="a", data=b"first")
    [wire] = socket_target._wires.values()
    [conn] = wire._local.pool.values()
    assert conn.sock is not None
    conn.sock.shutdown(socket.SHUT_RDWR)  # dead, as a server's idle timeout would leave it
    socket_driver.put(backend=target, target=mine, name="a", data=b"second")
    buffer = memoryview(bytearray(16))
    assert buffer[: socket_driver.get_into(backend=target, target=mine, name="a", buffer=buffer)] == b"second"
