"""Token validation's fast route (``GET``/``HEAD /identity/v3/auth/tokens`` ahead of
FastAPI's stack) answers exactly as the FastAPI route does, and its caches (resolved tokens,
rendered bodies) never outlive a revocation, a role change or the token's expiry."""

from __future__ import annotations

import io
import logging
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from fastapi import FastAPI

from overcast.api.middleware import FastPathMiddleware, RequestIdAndLogMiddleware, new_request_id
from overcast.identity.tokens import TokenPayload, new_audit_id
from overcast.logs import BatchingStreamHandler, JsonFormatter

PATH = "/identity/v3/auth/tokens"


@pytest.fixture
def routed(cloud):
    """A client on the same app that bypasses the fast route (FastAPI's own stack)."""
    from starlette.testclient import TestClient

    async def fastapi_only(scope, receive, send):
        await FastAPI.__call__(cloud.app, scope, receive, send)

    with TestClient(fastapi_only, base_url="http://testserver") as client:
        yield client


def _same(fast, slow) -> None:
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    assert fast.content == slow.content
    for name in ("content-type", "content-length", "x-subject-token", "www-authenticate"):
        assert fast.headers.get(name) == slow.headers.get(name), name
    assert fast.headers["x-openstack-request-id"].startswith("req-")


def test_fast_route_answers_as_the_fastapi_route(cloud, routed) -> None:
    _, user_id, own = cloud.new_project_user(role="reader")
    _, _, other = cloud.new_project_user(role="member")
    cases = [
        ("GET", PATH, {"X-Auth-Token": cloud.admin_token, "X-Subject-Token": own}),  # admin inspects any token
        ("GET", PATH + "?nocatalog", {"X-Auth-Token": cloud.admin_token, "X-Subject-Token": own}),
        ("GET", PATH + "?nocatalog=1&x=y", {"X-Auth-Token": own, "X-Subject-Token": own}),  # the owner
        ("HEAD", PATH, {"X-Auth-Token": own, "X-Subject-Token": own}),
        ("GET", PATH, {"X-Subject-Token": own}),  # no caller token: 401 with WWW-Authenticate
        ("GET", PATH, {"X-Auth-Token": "garbage", "X-Subject-Token": own}),  # 401
        ("GET", PATH, {"X-Auth-Token": own}),  # no subject: 404
        ("GET", PATH, {"X-Auth-Token": own, "X-Subject-Token": "garbage"}),  # 404
        ("HEAD", PATH, {"X-Auth-Token": own, "X-Subject-Token": "garbage"}),
        ("GET", PATH, {"X-Auth-Token": own, "X-Subject-Token": other}),  # someone else's: 403
    ]
    statuses = []
    for method, path, headers in cases:
        fast = cloud.client.request(method, path, headers=headers)
        _same(fast, routed.request(method, path, headers=headers))
        statuses.append(fast.status_code)
    assert statuses == [200, 200, 200, 200, 401, 401, 404, 404, 404, 403]
    body = cloud.client.get(PATH, headers={"X-Auth-Token": own, "X-Subject-Token": own}).json()["token"]
    assert body["user"]["id"] == user_id and [r["name"] for r in body["roles"]] == ["reader"] and body["catalog"]


def test_a_revocation_by_another_process_applies_to_the_next_validation(cloud, overcast_runtime) -> None:
    from overcast.identity.service import IdentityService

    _, _, token = cloud.new_project_user()
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    for _ in range(3):  # warm every cache: resolved token, rendered body
        assert cloud.client.get(PATH, headers=headers).status_code == 200
    other = IdentityService(overcast_runtime)  # another process's service: its own caches
    try:
        other.revoke_token(token)
    finally:
        other.close()
    assert (
        cloud.client.get(PATH, headers={"X-Auth-Token": cloud.admin_token, "X-Subject-Token": token}).status_code == 404
    )
    assert cloud.client.get(PATH, headers=headers).status_code == 401
    assert cloud.client.head(PATH, headers=headers).status_code == 401


def test_a_role_change_shows_in_the_next_validation_body(cloud) -> None:
    project_id, user_id, token = cloud.new_project_user(role="reader")
    headers = {"X-Auth-Token": cloud.admin_token, "X-Subject-Token": token}
    roles = lambda: sorted(r["name"] for r in cloud.client.get(PATH, headers=headers).json()["token"]["roles"])  # noqa: E731
    assert roles() == ["reader"] and roles() == ["reader"]
    cloud.identity.assignments.grant("user", user_id, project_id, cloud.role_ids["member"])
    assert roles() == ["member", "reader"]
    cloud.identity.assignments.revoke("user", user_id, project_id, cloud.role_ids["member"])
    assert roles() == ["reader"]


def test_a_cached_token_still_expires(cloud) -> None:
    now = datetime.now(timezone.utc)
    soon = (now + timedelta(seconds=2)).replace(microsecond=0)
    payload = TokenPayload(cloud.admin_user_id, ("password",), cloud.admin_project_id, now, soon, (new_audit_id(),))
    token = cloud.identity.tokens.issue(payload)
    headers = {"X-Auth-Token": cloud.admin_token, "X-Subject-Token": token}
    assert cloud.client.get(PATH, headers=headers).status_code == 200  # now cached
    deadline = time.monotonic() + 10
    while cloud.client.get(PATH, headers=headers).status_code == 200:
        assert time.monotonic() < deadline, "an expired token still validates"
        time.sleep(0.1)
    assert datetime.now(timezone.utc) >= soon
    assert cloud.client.get(PATH, headers=headers).status_code == 404


async def _boom(scope, receive, send):
    raise RuntimeError("boom")


def test_an_unexpected_error_on_a_fast_route_is_a_500_in_the_services_format() -> None:
    from starlette.testclient import TestClient

    async def fallback(scope, receive, send):  # pragma: no cover - not reached
        raise AssertionError("the fast route was not taken")

    app = RequestIdAndLogMiddleware(
        FastPathMiddleware(fallback, exact={("GET", "/identity/v3/x"): _boom}, routes={"/image/v2/x": _boom})
    )
    client = TestClient(app, raise_server_exceptions=False)
    r = client.get("/identity/v3/x")
    assert (
        r.status_code == 500
        and r.json()["error"]["code"] == 500
        and r.headers["x-openstack-request-id"].startswith("req-")
    )
    r = client.get("/image/v2/x/y", headers={"Accept": "application/json"})
    assert r.status_code == 500 and r.json()["title"] == "Internal Server Error"  # Glance's JSON form
    r = client.get("/image/v2/x/y", headers={"Accept": "text/plain"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/plain")


def test_request_ids_are_version_4_uuids() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for rid in list(ids)[:200]:
        u = uuid.UUID(rid.removeprefix("req-"))
        assert rid.startswith("req-") and str(u) == rid[4:] and u.version == 4 and u.variant == uuid.RFC_4122


def test_log_lines_are_batched_in_order_and_warnings_go_out_at_once() -> None:
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream, interval=0.05)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("overcast.tests.batching")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("one", extra={"n": 1})
        logger.info("two")
        logger.warning("three")  # written at once, after the two before it
        assert [line.split('"msg": "')[1].split('"')[0] for line in stream.getvalue().splitlines()] == [
            "one",
            "two",
            "three",
        ]
        assert '"n": 1' in stream.getvalue()
        logger.info("four")
        deadline = time.monotonic() + 5
        while "four" not in stream.getvalue():  # the flusher thread writes it
            assert time.monotonic() < deadline
            time.sleep(0.01)
        logger.info("five")
        handler.close()  # what logging.shutdown does at exit
        assert stream.getvalue().splitlines()[-1].count('"five"') == 1
    finally:
        logger.removeHandler(handler)


def test_a_cached_token_stops_validating_when_its_key_retires(cloud) -> None:
    _, _, token = cloud.new_project_user()
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert cloud.client.get(PATH, headers=headers).status_code == 200  # now cached
    keys = cloud.identity.keys
    keys.rotate()  # its key is now a secondary: still valid
    assert cloud.client.get(PATH, headers=headers).status_code == 200
    for _ in range(keys.max_active_keys - 2):
        keys.rotate()  # ... and now retired
    fresh = cloud.identity.issue_token_for(cloud.admin_user_id, cloud.admin_project_id).token
    assert cloud.client.get(PATH, headers={"X-Auth-Token": fresh, "X-Subject-Token": token}).status_code == 404
    assert cloud.client.get(PATH, headers=headers).status_code == 401
