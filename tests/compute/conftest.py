"""Fixtures for the compute tests: a fake cloud with two fake hosts, a fake image service,
and helpers to wait for background tasks."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from overcast.config import parse_config
from overcast.context import RequestContext
from overcast.testing.fixtures import fake_config_data

from .fake_peers import FakeImageService, FakeVolumeService

IMAGE_ID = "11111111-2222-3333-4444-555555555555"


def make_ctx(project: str = "p1", user: str = "u1", admin: bool = False) -> RequestContext:
    roles = frozenset({"admin", "member", "reader"} if admin else {"member", "reader"})
    return RequestContext(user_id=user, project_id=project, roles=roles, request_id=f"req-{uuid.uuid4()}")


@pytest.fixture
def overcast_config(tmp_path, migrated_sqlite_template):
    """Two fake hosts (for migrations and affinity), an always-fresh scheduler cache."""
    shutil.copyfile(migrated_sqlite_template, tmp_path / "overcast.db")
    data = fake_config_data(tmp_path, hosts=2)
    data["compute"] = {"scheduler_cache_seconds": 0}
    data["bus"] = {"heartbeat_interval": 3600}
    return parse_config(data, tmp_path / "overcast.toml")


@pytest.fixture
def cloud_runtime(overcast_runtime) -> Iterator[Any]:
    """The runtime with compute started, and test doubles for the image and volume services
    (compute's own tests stay independent of those services' stores and drivers)."""
    images = FakeImageService()
    images.add(IMAGE_ID)
    overcast_runtime._services["image"] = images
    overcast_runtime._services["volume"] = FakeVolumeService()
    overcast_runtime.compute.start()
    yield overcast_runtime


@pytest.fixture
def compute(cloud_runtime):
    return cloud_runtime.compute


@pytest.fixture
def ctx():
    return make_ctx()


@pytest.fixture
def admin_ctx():
    return make_ctx(project="admin", user="admin", admin=True)


@pytest.fixture
def flavor(compute, admin_ctx):
    return compute.flavors.create(admin_ctx, {"name": "m1.small", "vcpus": 2, "ram": 2048, "disk": 10})


def wait_status(compute, ctx, server_id: str, status: str, timeout: float = 10.0):
    """Wait for background tasks, then for the server's status; returns the row."""
    from overcast.compute.states import status_of

    deadline = time.monotonic() + timeout
    while True:
        compute.runner.wait_idle(timeout=timeout)
        rec = compute.get_server(ctx, server_id) if status != "DELETED" else _raw(compute, server_id)
        current = status_of(rec.vm_state, rec.task_state)
        if current == status:
            return rec
        if time.monotonic() > deadline:
            raise AssertionError(f"server {server_id} is {current}, wanted {status}")
        time.sleep(0.01)


def _raw(compute, server_id):
    from overcast.db.models.compute import InstanceRecord

    with compute.runtime.db.session() as s:
        return s.get(InstanceRecord, server_id)


def boot(compute, ctx, flavor, name: str = "vm1", **extra) -> Any:
    body = {"name": name, "flavorRef": flavor.id, "imageRef": IMAGE_ID, "networks": "none", **extra}
    rec = compute.create_server(ctx, body)
    return wait_status(compute, ctx, rec.uuid, "ACTIVE")


class Api:
    """The test cloud's HTTP client with one real token per caller: ``p1`` and ``p2`` (members
    of two projects), ``reader`` (reader on p1's project) and ``admin``."""

    def __init__(self, cloud, version: str = "2.37") -> None:
        self.client = cloud.client
        self.version = version
        p1, u1, t1 = cloud.new_project_user("member")
        p2, _, t2 = cloud.new_project_user("member")
        _, u3, _ = cloud.new_project_user("reader")
        cloud.identity.assignments.grant("user", u3, p1, cloud.role_ids["reader"])
        self.tokens = {"p1": t1, "p2": t2, "reader": cloud.token_for(u3, p1), "admin": cloud.admin_token}
        self.projects = {"p1": p1, "p2": p2, "admin": cloud.admin_project_id}

    def __call__(self, method: str, path: str, who: str = "p1", json: Any = None, version: str | None = None, **kw):
        headers = {"X-Auth-Token": self.tokens[who], "OpenStack-API-Version": f"compute {version or self.version}"}
        return self.client.request(method, "/compute/v2.1" + path, headers=headers, json=json, **kw)


@pytest.fixture
def api(cloud_runtime, cloud):
    return Api(cloud)


@pytest.fixture
def api_flavor(api):
    r = api("POST", "/flavors", "admin", {"flavor": {"name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1, "id": None}})
    assert r.status_code == 200, r.text
    return r.json()["flavor"]


def api_wait(api, compute, server_id: str, status: str, who: str = "p1", timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        compute.runner.wait_idle(timeout=timeout)
        body = api("GET", f"/servers/{server_id}", who).json()["server"]
        if body["status"] == status:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"server is {body['status']}, wanted {status}: {body.get('fault')}")
        time.sleep(0.01)
