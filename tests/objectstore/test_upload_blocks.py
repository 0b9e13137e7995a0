"""A large object PUT over a real connection to the API's own HTTP protocol
(:class:`~overcast.httpwire.BufferedReadsHttpProtocol`) takes the body as page-aligned blocks
(:mod:`overcast.httpbody`) into the ``fs`` store: the object, its MD5 ETag, a refused ETag
that stores nothing, and the kept-alive connection after each."""

from __future__ import annotations

import hashlib
import http.client
import os
from collections.abc import Iterator
from typing import Any

import pytest

from overcast import httpbody
from overcast.httpwire import BufferedReadsHttpProtocol
from overcast.testing.asgi_server import serving_in_thread

from tests.objectstore.conftest import new_user

MiB = 1024 * 1024


@pytest.fixture
def served(os_runtime: Any) -> Iterator[int]:
    from overcast.api.app import create_app

    with serving_in_thread(create_app(os_runtime), BufferedReadsHttpProtocol, lifespan="off") as port:
        yield port


def test_a_large_put_in_blocks(os_runtime: Any, served: int, monkeypatch: pytest.MonkeyPatch) -> None:
    offered: list[httpbody.BodyBlocks] = []
    real = httpbody.BodyBlocks.__init__

    def counting(self: httpbody.BodyBlocks, *args: Any) -> None:
        real(self, *args)
        offered.append(self)

    monkeypatch.setattr(httpbody.BodyBlocks, "__init__", counting)
    project, token = new_user(os_runtime)
    base = f"/object/v1/AUTH_{project}/c"
    conn = http.client.HTTPConnection("127.0.0.1", served, timeout=60)

    def call(method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, dict[str, str], bytes]:
        conn.request(method, path, body=body, headers={"X-Auth-Token": token, **headers})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()

    assert call("PUT", base)[0] == 201
    data = os.urandom(20 * MiB + 5)
    status, headers, _ = call("PUT", f"{base}/big", data)
    assert status == 201 and headers["etag"] == hashlib.md5(data).hexdigest()
    assert len(offered) == 1  # the body (most of it) came as blocks
    status, headers, body = call("GET", f"{base}/big")
    assert status == 200 and body == data
    status, _, _ = call("PUT", f"{base}/wrong", data, ETag=hashlib.md5(b"other").hexdigest())
    assert status == 422 and len(offered) == 2
    assert call("GET", f"{base}/wrong")[0] == 404
    assert call("PUT", f"{base}/small", b"small")[0] == 201  # the same connection, parsed afresh
    assert call("GET", f"{base}/small")[2] == b"small"
    conn.close()
