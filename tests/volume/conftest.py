"""Fixtures for the volume service's tests: a runtime with fake drivers (``overcast_runtime``)
plus helpers to build request contexts and wait for background work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from overcast.context import RequestContext


def make_ctx(
    project: str = "proj-a", user: str = "user-a", roles: tuple[str, ...] = ("member", "reader")
) -> RequestContext:
    return RequestContext(user_id=user, project_id=project, roles=frozenset(roles))


@pytest.fixture
def ctx() -> RequestContext:
    return make_ctx()


@pytest.fixture
def other_ctx() -> RequestContext:
    return make_ctx("proj-b", "user-b")


@pytest.fixture
def admin_ctx() -> RequestContext:
    return make_ctx("proj-admin", "admin", ("admin", "member", "reader"))


@pytest.fixture
def volumes(overcast_runtime: Any) -> Any:
    """The runtime's VolumeService."""
    return overcast_runtime.service("volume")


@pytest.fixture
def settle(volumes: Any) -> Callable[[], None]:
    """Wait until the volume service's background tasks are done."""

    def wait() -> None:
        volumes.tasks.wait(timeout=60)

    return wait


# --- HTTP: the whole in-process cloud (real identity, tokens and policy) ----------------------


class Api:
    """An HTTP client for one project: ``api.get("volumes/detail")`` is relative to
    ``/volume/v3/<project>/``; absolute paths pass through."""

    def __init__(self, cloud: Any, token: str, project: str) -> None:
        self.cloud, self.token, self.project = cloud, token, project

    def url(self, path: str) -> str:
        return path if path.startswith("/") else f"/volume/v3/{self.project}/{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.cloud.request(method, self.url(path), token=self.token, **kwargs)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


@pytest.fixture
def http(cloud: Any) -> Any:
    return cloud.client


@pytest.fixture
def api(cloud: Any) -> Api:
    project, _, token = cloud.new_project_user(role="member")
    return Api(cloud, token, project)


@pytest.fixture
def api_b(cloud: Any) -> Api:
    project, _, token = cloud.new_project_user(role="member")
    return Api(cloud, token, project)


@pytest.fixture
def api_admin(cloud: Any) -> Api:
    return Api(cloud, cloud.admin_token, cloud.admin_project_id)
