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


class StandInIdentity:
    """Tokens are the names of contexts (until the identity service's test cloud is on main):
    ``X-Auth-Token: alice`` acts as project ``alice-project`` with the member role."""

    def __init__(self, contexts: dict[str, RequestContext]) -> None:
        self.contexts = contexts

    def context_from_token(self, token: str, request_id: str = "") -> RequestContext:
        from overcast.errors import Unauthorized

        if token not in self.contexts:
            raise Unauthorized("The request you have made requires authentication.")
        return self.contexts[token]

    def enforce(self, rule: str, ctx: RequestContext) -> None:
        from overcast.errors import Forbidden
        from overcast.policy import required_role, role_satisfies

        if not role_satisfies(ctx.roles, required_role(rule)):
            raise Forbidden(f"Policy doesn't allow {rule} to be performed.", code="PolicyNotAuthorized")


class Api:
    """A TestClient per caller: ``api.alice.get("/networking/v2.0/networks")``."""

    def __init__(self, app: Any, tokens: list[str]) -> None:
        from fastapi.testclient import TestClient

        for token in tokens:
            client = TestClient(app, raise_server_exceptions=False)
            client.headers["X-Auth-Token"] = token
            setattr(self, token, client)
        self.anonymous = TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def api(net_runtime: Any, alice: RequestContext, bob: RequestContext, boss: RequestContext) -> Api:
    from overcast.api.app import create_app

    reader = RequestContext(user_id="r", project_id="alice-project", roles=frozenset({"reader"}))
    contexts = {"alice": alice, "bob": bob, "boss": boss, "reader": reader}
    if "identity" not in net_runtime._services:
        net_runtime._services["identity"] = StandInIdentity(contexts)
    return Api(create_app(net_runtime), list(contexts))


V2 = "/networking/v2.0"


def neutron_error(response: Any, status: int, error_type: str) -> dict[str, Any]:
    """Assert a Neutron-format error and return its body."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"NeutronError"}, body
    assert body["NeutronError"]["type"] == error_type, body
    assert body["NeutronError"]["message"]
    return body["NeutronError"]
