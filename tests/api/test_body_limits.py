"""One request-body limit for every path and content type, enforced before the body is read
(issue 22, part 1), and 405s that name the allowed methods."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from overcast.api.middleware import BodyLimitMiddleware, RouteLimit

MiB = 1024 * 1024


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` bytes, generated (a chunked request body, never whole in memory)."""
    block = b"x" * size
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield block[:n]
        sent += n


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", "application/json", ""])
@pytest.mark.parametrize(
    "path,key",
    [
        ("/networking/v2.0/networks", "NeutronError"),
        ("/compute/v2.1/servers", "overLimit"),
        ("/volume/v3/p/volumes", "overLimit"),
    ],
)
def test_declared_body_over_limit_is_413_before_authentication(cloud, path: str, key: str, content_type: str) -> None:
    limit = cloud.runtime.config.api.max_request_body
    headers = {"Content-Type": content_type} if content_type else {}
    r = cloud.client.post(path, content=b"x" * (limit + 1), headers=headers)  # no token
    assert r.status_code == 413, r.text
    assert key in r.json()


def test_chunked_body_over_limit_is_413_not_400(cloud) -> None:
    limit = cloud.runtime.config.api.max_request_body
    for content_type in ("application/json", "text/plain"):
        r = cloud.client.post(
            "/compute/v2.1/flavors",
            content=chunks(limit + 1),
            headers={**cloud.admin_headers, "Content-Type": content_type},
        )
        assert r.status_code == 413, r.text
        assert r.json()["overLimit"]["code"] == 413


def test_chunked_body_within_limit_still_works(cloud) -> None:
    body = b'{"network": {"name": "chunked"}}'
    r = cloud.client.post(
        "/networking/v2.0/networks",
        content=iter([body[:10], body[10:]]),
        headers={**cloud.admin_headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["network"]["name"] == "chunked"


def test_image_and_object_data_stream_past_the_default_limit(cloud) -> None:
    """The streaming routes have their own (service) limits: uploads larger than the
    JSON limit keep working, declared or chunked."""
    size = cloud.runtime.config.api.max_request_body * 2 + 5
    h = cloud.admin_headers
    image = cloud.client.post(
        "/image/v2/images", headers=h, json={"name": "big", "disk_format": "raw", "container_format": "bare"}
    ).json()
    r = cloud.client.put(
        f"/image/v2/images/{image['id']}/file",
        content=chunks(size),
        headers={**h, "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 204, r.text
    assert cloud.client.get(f"/image/v2/images/{image['id']}", headers=h).json()["size"] == size
    account = f"/object/v1/AUTH_{cloud.admin_project_id}"
    assert cloud.client.put(f"{account}/c", headers=h).status_code in (201, 202)
    r = cloud.client.put(f"{account}/c/o", content=b"y" * size, headers=h)
    assert r.status_code == 201, r.text
    r = cloud.client.put(f"{account}/c/chunked", content=chunks(size), headers=h)
    assert r.status_code == 201, r.text
    assert cloud.client.head(f"{account}/c/chunked", headers=h).headers["content-length"] == str(size)
    # an account POST may carry a ?bulk-delete list longer than the default limit
    r = cloud.client.post(account, content=b"c/o\n" * (size // 4), headers={**h, "Content-Type": "text/plain"})
    assert r.status_code != 413


def test_image_data_over_its_limit_is_413_in_glance_format(cloud) -> None:
    cap = cloud.runtime.config.image.max_image_size
    r = cloud.client.put(
        "/image/v2/images/any/file", headers={"Content-Length": str(cap + 1), "Accept": "application/json"}, content=b""
    )
    assert r.status_code == 413 and r.json()["title"] == "Request Entity Too Large"


async def _app_reading_body(scope: dict, receive, send) -> None:
    """A stand-in route that reads its whole body, then answers 200 (or 400 on a disconnect, as
    FastAPI answers a body it could not read)."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"client went away"})
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def _run(app, method: str, path: str, headers: list, parts: list[bytes]) -> tuple[list[dict], int]:
    import asyncio

    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
    delivered = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal delivered
        if delivered < len(messages):
            delivered += 1
            return messages[delivered - 1]
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent, delivered


def test_middleware_route_limits_and_stops_reading_at_the_limit() -> None:
    app = BodyLimitMiddleware(
        _app_reading_body, limit=100, routes=[RouteLimit("PUT", re.compile(r"^/image/v2/images/[^/]+/file$"), 1000)]
    )
    chunked = [(b"transfer-encoding", b"chunked")]
    sent, _ = _run(app, "PUT", "/image/v2/images/i/file", chunked, [b"x" * 400, b"x" * 400])
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"800"
    # the same body to another route: 413 in the service's format, the app's own answer dropped
    sent, delivered = _run(app, "PUT", "/image/v2/images/i", chunked, [b"x" * 60, b"x" * 60, b"x" * 60, b"x" * 60])
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [413]
    assert delivered == 2  # nothing read past the chunk that crossed the limit
    # a declared length over the limit: refused before the app runs at all
    sent, delivered = _run(app, "POST", "/image/v2/images", [(b"content-length", b"101")], [b"x" * 101])
    assert sent[0]["status"] == 413 and delivered == 0
    sent, _ = _run(app, "PUT", "/image/v2/images/i/file", [(b"content-length", b"1001")], [b""])
    assert sent[0]["status"] == 413


def test_405_carries_allow(cloud) -> None:
    r = cloud.client.request("PATCH", "/compute/v2.1/flavors", headers=cloud.admin_headers)
    assert r.status_code == 405
    assert set(r.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    r = cloud.client.request("PATCH", f"/object/v1/AUTH_{cloud.admin_project_id}", headers=cloud.admin_headers)
    assert r.status_code == 405
    # an account takes DELETE and PUT too: Swift's ?bulk-delete and ?extract-archive
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST", "DELETE", "PUT"}
