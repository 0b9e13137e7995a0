"""Fixtures for the compute tests: a fake cloud with two fake hosts, a fake image service,
and helpers to wait for background tasks."""

from __future__ import annotations

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
def compute_config(tmp_path):
    data = fake_config_data(tmp_path, hosts=2)
    data["compute"] = {"scheduler_cache_seconds": 0}
    data["bus"] = {"heartbeat_interval": 3600}
    return parse_config(data, tmp_path / "overcast.toml")


@pytest.fixture
def cloud_runtime(compute_config, overcast_pm) -> Iterator[Any]:
    from overcast.runtime import build_runtime

    runtime = build_runtime(compute_config, pm=overcast_pm)
    images = FakeImageService()
    images.add(IMAGE_ID)
    runtime._services["image"] = images
    runtime._services["volume"] = FakeVolumeService()
    runtime.compute.start()
    try:
        yield runtime
    finally:
        runtime.close()


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
    """An in-process HTTP client with one token per caller (``p1``, ``p2``, ``admin``)."""

    def __init__(self, client, version: str = "2.37") -> None:
        self.client = client
        self.version = version

    def __call__(self, method: str, path: str, who: str = "p1", json: Any = None, version: str | None = None, **kw):
        headers = {"X-Auth-Token": who, "OpenStack-API-Version": f"compute {version or self.version}"}
        return self.client.request(method, "/compute/v2.1" + path, headers=headers, json=json, **kw)


@pytest.fixture
def api(cloud_runtime):
    from fastapi.testclient import TestClient

    from overcast.api.app import create_app

    from .fake_peers import FakeIdentity

    identity = FakeIdentity()
    identity.tokens = {"p1": make_ctx("p1", "u1"), "p2": make_ctx("p2", "u2"), "admin": make_ctx("admin", "admin", admin=True),
                       "reader": RequestContext(user_id="u3", project_id="p1", roles=frozenset({"reader"}))}
    cloud_runtime._services["identity"] = identity
    with TestClient(create_app(cloud_runtime)) as client:
        yield Api(client)


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
