"""Service-level fixtures: an all-fake runtime with its host agents serving the bus."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from overcast.agent import start_local_agents
from overcast.context import RequestContext


@pytest.fixture
def net_runtime(overcast_runtime: Any) -> Iterator[Any]:
    start_local_agents(overcast_runtime)
    overcast_runtime.network.plumbing.strict = True
    overcast_runtime.network.start()
    yield overcast_runtime
    overcast_runtime.network.close()


@pytest.fixture
def svc(net_runtime: Any) -> Any:
    return net_runtime.network


def member(project: str = "p1") -> RequestContext:
    return RequestContext(user_id=f"u-{project}", project_id=project, roles=frozenset({"member", "reader"}))


def admin(project: str = "admin") -> RequestContext:
    return RequestContext(user_id="admin", project_id=project, roles=frozenset({"admin", "member", "reader"}))


@pytest.fixture
def alice() -> RequestContext:
    return member("alice-project")


@pytest.fixture
def bob() -> RequestContext:
    return member("bob-project")


@pytest.fixture
def boss() -> RequestContext:
    return admin()


class Caller:
    """Requests as one user: ``api.alice.get("/networking/v2.0/networks")``."""

    def __init__(self, client: Any, token: str | None) -> None:
        self.client, self.token = client, token

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token:
            headers["X-Auth-Token"] = self.token
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kw: Any) -> Any:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.request("PUT", url, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.request("DELETE", url, **kw)


class Api:
    """The test cloud seen by an admin (``boss``), two projects' members (``alice``, ``bob``),
    a reader, and nobody (``anonymous``)."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self.svc = cloud.runtime.network
        self.boss = Caller(cloud.client, cloud.admin_token)
        self.alice_project, _, token = cloud.new_project_user(role="member")
        self.alice = Caller(cloud.client, token)
        self.bob_project, _, token = cloud.new_project_user(role="member")
        self.bob = Caller(cloud.client, token)
        _, _, token = cloud.new_project_user(role="reader")
        self.reader = Caller(cloud.client, token)
        self.anonymous = Caller(cloud.client, None)


@pytest.fixture
def api(cloud: Any) -> Api:
    cloud.runtime.network.plumbing.strict = True
    return Api(cloud)


V2 = "/networking/v2.0"


def neutron_error(response: Any, status: int, error_type: str) -> dict[str, Any]:
    """Assert a Neutron-format error and return its body."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"NeutronError"}, body
    assert body["NeutronError"]["type"] == error_type, body
    assert body["NeutronError"]["message"]
    return body["NeutronError"]
