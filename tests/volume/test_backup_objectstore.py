"""The built-in ``objectstore`` backup target passes the backup contract against this
cloud's own Swift API (in process, the user's token), and another project's token is
refused by the object service."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.errors import DriverError
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
