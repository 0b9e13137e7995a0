"""Fixtures for the volume service's tests: a runtime with fake drivers (``overcast_runtime``)
plus helpers to build request contexts and wait for background work."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from overcast.context import RequestContext


def make_ctx(project: str = "proj-a", user: str = "user-a", roles: tuple[str, ...] = ("member", "reader")) -> RequestContext:
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


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


# --- HTTP: the one ASGI app with a stand-in token check ------------------------------------


class TokenTable:
    """Maps test tokens to contexts and enforces ``overcast.policy`` the way the identity
    service does (used until a test needs real Keystone tokens)."""

    def __init__(self) -> None:
        self.tokens: dict[str, RequestContext] = {}

    def context_from_token(self, token: str, request_id: str = "") -> RequestContext:
        from overcast.errors import Unauthorized

        try:
            return self.tokens[token]
        except KeyError:
            raise Unauthorized("The request you have made requires authentication.") from None

    def enforce(self, rule: str, ctx: RequestContext) -> None:
        from overcast.errors import Forbidden
        from overcast.policy import required_role, role_satisfies

        if not role_satisfies(ctx.roles, required_role(rule)):
            raise Forbidden(f"Policy doesn't allow {rule} to be performed.")


class Api:
    """An HTTP client for one project: ``api.get("volumes/detail")`` is relative to
    ``/volume/v3/<project>/``; ``api.raw`` is the underlying TestClient."""

    def __init__(self, raw: Any, token: str, project: str) -> None:
        self.raw, self.token, self.project = raw, token, project

    def url(self, path: str) -> str:
        return path if path.startswith("/") else f"/volume/v3/{self.project}/{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"X-Auth-Token": self.token, **kwargs.pop("headers", {})}
        return self.raw.request(method, self.url(path), headers=headers, **kwargs)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


@pytest.fixture
def http(overcast_runtime: Any) -> Any:
    from fastapi.testclient import TestClient

    from overcast.api.app import create_app

    table = TokenTable()
    overcast_runtime._services["identity"] = table
    with TestClient(create_app(overcast_runtime)) as client:
        client.tokens = table
        yield client


@pytest.fixture
def api(http: Any) -> Api:
    http.tokens.tokens["tok-a"] = make_ctx("proj-a", "user-a")
    return Api(http, "tok-a", "proj-a")


@pytest.fixture
def api_b(http: Any) -> Api:
    http.tokens.tokens["tok-b"] = make_ctx("proj-b", "user-b")
    return Api(http, "tok-b", "proj-b")


@pytest.fixture
def api_admin(http: Any) -> Api:
    http.tokens.tokens["tok-admin"] = make_ctx("proj-admin", "admin", ("admin", "member", "reader"))
    return Api(http, "tok-admin", "proj-admin")
