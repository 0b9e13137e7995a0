"""An image upload over a real connection to the API's own HTTP protocol
(:class:`~overcast.httpwire.BufferedReadsHttpProtocol`) takes the body as page-aligned blocks
(:mod:`overcast.httpbody`) into the ``fs`` store: ``checksum`` and ``os_hash_value`` exact for
sizes that are no multiple of a block, staging too; a client that goes away mid-upload leaves
the image ``queued``, nothing stored and every block back in the pool; a body over the size
limit (413) or refused before it is read (409) is dropped as it comes, and the connection
serves the next request; once uploads stop, the blocks' memory goes back to the system."""

from __future__ import annotations

import gc
import hashlib
import http.client
import json
import mmap
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from overcast_storage_fs import durable

from overcast import httpbody
from overcast.buffers import BufferPool, anonymous
from overcast.httpwire import BufferedReadsHttpProtocol
from overcast.testing.asgi_server import serving_in_thread
from overcast.testing.memory import address, resident_pages

from .conftest import stored_files, use_fs_store

overcast_pm, overcast_config = use_fs_store()

MiB = 1024 * 1024


@pytest.fixture
def served(api: Any) -> Iterator[int]:
    from overcast.api.app import create_app

    with serving_in_thread(create_app(api.runtime), BufferedReadsHttpProtocol, lifespan="off") as port:
        yield port


@pytest.fixture
def offered(monkeypatch: pytest.MonkeyPatch) -> list[httpbody.BodyBlocks]:
    """The bodies the server offered as blocks, in order."""
    seen: list[httpbody.BodyBlocks] = []
    real = httpbody.BodyBlocks.__init__

    def counting(self: httpbody.BodyBlocks, *args: Any) -> None:
        real(self, *args)
        seen.append(self)

    monkeypatch.setattr(httpbody.BodyBlocks, "__init__", counting)
    return seen


class Conn:
    def __init__(self, port: int, token: str) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = token

    def call(self, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, bytes]:
        headers = {"X-Auth-Token": self.token, **headers}
        if body is not None:
            headers.setdefault("Content-Type", "application/octet-stream")
        self.http.request(method, f"/image/v2{path}", body=body, headers=headers)
        resp = self.http.getresponse()
        return resp.status, resp.read()

    def put_chunked(self, path: str, data: bytes, size: int = 65536) -> tuple[int, bytes]:
        """``data`` as a chunked body of ``size``-byte chunks, as glanceclient sends an image."""
        parts = (data[at : at + size] for at in range(0, len(data), size))
        headers = {"X-Auth-Token": self.token, "Content-Type": "application/octet-stream"}
        headers["Transfer-Encoding"] = "chunked"
        self.http.request("PUT", f"/image/v2{path}", body=parts, headers=headers, encode_chunked=True)
        resp = self.http.getresponse()
        return resp.status, resp.read()

    def new_image(self) -> str:
        body = json.dumps({"name": "blocks", "disk_format": "raw", "container_format": "bare"}).encode()
        status, answer = self.call("POST", "/images", body, **{"Content-Type": "application/json"})
        assert status == 201, answer
        return str(json.loads(answer)["id"])

    def show(self, image_id: str) -> dict[str, Any]:
        status, answer = self.call("GET", f"/images/{image_id}")
        assert status == 200, answer
        return dict(json.loads(answer))


def _blocks_back_in_the_pool() -> None:
    deadline = time.monotonic() + 10
    pool = httpbody._pools[httpbody.LARGE_BLOCK]  # noqa: SLF001 - the blocks the server reads image bodies into
    while pool.in_use():
        assert time.monotonic() < deadline, f"{pool.in_use()} blocks still referred to"
        gc.collect()
        time.sleep(0.05)


@pytest.mark.parametrize("size", [8 * MiB, 9 * MiB + 12345, 16 * MiB - 1])
def test_digests_exact_in_blocks(api: Any, served: int, offered: list[Any], size: int) -> None:
    conn = Conn(served, api.a.token)
    image_id = conn.new_image()
    data = os.urandom(size)
    assert conn.call("PUT", f"/images/{image_id}/file", data)[0] == 204
    assert len(offered) == 1  # the body (most of it) came as blocks
    assert offered[0].block == httpbody.LARGE_BLOCK  # of 4 MiB, for the hashes' threads
    shown = conn.show(image_id)
    assert shown["status"] == "active" and shown["size"] == size
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert (shown["os_hash_algo"], shown["os_hash_value"]) == ("sha512", hashlib.sha512(data).hexdigest())
    status, back = conn.call("GET", f"/images/{image_id}/file")
    assert status == 200 and back == data
    _blocks_back_in_the_pool()


def test_staged_in_blocks(api: Any, served: int, offered: list[Any]) -> None:
    conn = Conn(served, api.a.token)
    image_id = conn.new_image()
    data = os.urandom(6 * MiB + 7)
    assert conn.call("PUT", f"/images/{image_id}/stage", data)[0] == 204
    assert len(offered) == 1
    assert api.runtime.image.importer.staged_path(image_id).read_bytes() == data
    assert conn.show(image_id)["status"] == "uploading"


@pytest.mark.parametrize("target", ["file", "stage"])
def test_client_gone_mid_upload_leaves_nothing(
    api: Any, served: int, offered: list[Any], tmp_path: Path, target: str
) -> None:
    conn = Conn(served, api.a.token)
    image_id = conn.new_image()
    head = (
        f"PUT /image/v2/images/{image_id}/{target} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {api.a.token}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {20 * MiB}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", served)) as sock:
        sock.sendall(head.encode() + os.urandom(9 * MiB))
        deadline = time.monotonic() + 10
        while not offered:
            assert time.monotonic() < deadline, "the body was not offered as blocks"
            time.sleep(0.01)
    deadline = time.monotonic() + 10
    while (status := conn.show(image_id)["status"]) != "queued":
        assert status in ("saving", "uploading") and time.monotonic() < deadline, status
        time.sleep(0.05)
    assert stored_files(tmp_path / "images") == []
    assert not api.runtime.image.importer.staged_path(image_id).exists()
    _blocks_back_in_the_pool()
    data = os.urandom(5 * MiB)  # the client may try again
    assert conn.call("PUT", f"/images/{image_id}/file", data)[0] == 204
    assert conn.show(image_id)["checksum"] == hashlib.md5(data).hexdigest()


def test_over_the_size_limit_refused_and_the_connection_kept(
    api: Any, served: int, offered: list[Any], tmp_path: Path
) -> None:
    api.runtime.config.image.max_image_size = 6 * MiB
    conn = Conn(served, api.a.token)
    image_id = conn.new_image()
    status, answer = conn.call("PUT", f"/images/{image_id}/file", os.urandom(10 * MiB))
    assert status == 413 and b"exceeds the maximum image size of 6291456 bytes" in answer
    assert len(offered) == 1
    assert conn.show(image_id)["status"] == "queued"  # on the same connection: the rest was dropped
    assert stored_files(tmp_path / "images") == []
    _blocks_back_in_the_pool()
    data = os.urandom(6 * MiB)
    assert conn.call("PUT", f"/images/{image_id}/file", data)[0] == 204
    assert conn.show(image_id)["os_hash_value"] == hashlib.sha512(data).hexdigest()


def test_refused_before_reading_and_the_connection_kept(api: Any, served: int, offered: list[Any]) -> None:
    conn = Conn(served, api.a.token)
    image_id = conn.new_image()
    data = os.urandom(5 * MiB)
    assert conn.call("PUT", f"/images/{image_id}/file", data)[0] == 204
    status, answer = conn.call("PUT", f"/images/{image_id}/file", os.urandom(12 * MiB))  # already active
    assert status == 409 and b"transition from active to saving" in answer
    assert len(offered) == 2  # offered, never read: dropped as it came
    assert conn.show(image_id)["checksum"] == hashlib.md5(data).hexdigest()
    _blocks_back_in_the_pool()


def test_an_idle_server_gives_the_blocks_memory_back(
    api: Any, served: int, offered: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload's blocks and the store's staging buffer (for the unaligned tail) are kept for
    the next upload while uploads come, and unmapped once their pools sit idle."""
    made: dict[str, list[int]] = {"blocks": [], "stages": []}

    def recorded(kind: str, size: int) -> Callable[[], mmap.mmap]:
        def make() -> mmap.mmap:
            buffer = anonymous(size)
            made[kind].append(address(buffer))
            return buffer

        return make

    blocks = BufferPool(recorded("blocks", httpbody.LARGE_BLOCK), keep=20, idle_release=0.3)
    stages = BufferPool(recorded("stages", durable.DIRECT_BLOCK), keep=4, idle_release=0.3)
    monkeypatch.setitem(httpbody._pools, httpbody.LARGE_BLOCK, blocks)  # noqa: SLF001
    monkeypatch.setattr(durable, "_stages", stages)
    for starts in made.values():
        starts.clear()  # the probe each pool made and dropped
    conn = Conn(served, api.a.token)
    image_id = conn.new_image()
    data = os.urandom(9 * MiB + 12345)
    assert conn.call("PUT", f"/images/{image_id}/file", data)[0] == 204
    assert len(offered) == 1
    assert conn.show(image_id)["checksum"] == hashlib.md5(data).hexdigest()
    assert len(made["blocks"]) >= 2 and len(made["stages"]) >= 1
    deadline = time.monotonic() + 10
    while blocks.kept() or stages.kept():
        assert time.monotonic() < deadline, f"{len(blocks.kept())} blocks, {len(stages.kept())} stages kept"
        time.sleep(0.05)
    assert blocks.released == len(made["blocks"]) and stages.released == len(made["stages"])
    size = {"blocks": httpbody.LARGE_BLOCK, "stages": durable.DIRECT_BLOCK}
    assert {kind: [resident_pages(at, size[kind]) for at in starts] for kind, starts in made.items()} == {
        kind: [None] * len(starts) for kind, starts in made.items()
    }  # unmapped: none of their pages is the process's any more


@pytest.mark.parametrize(("size", "chunk"), [(8 * MiB, 65536), (9 * MiB + 12345, 65536 + 7), (5 * MiB - 1, 3 * MiB)])
def test_chunked_upload_in_blocks(api: Any, served: int, offered: list[Any], size: int, chunk: int) -> None:
    conn = Conn(served, api.a.token)
    image_id = conn.new_image()
    data = os.urandom(size)
    assert conn.put_chunked(f"/images/{image_id}/file", data, chunk)[0] == 204
    assert len(offered) == 1 and offered[0].chunked  # the body (most of it) came as blocks
    shown = conn.show(image_id)  # on the same connection
    assert shown["status"] == "active" and shown["size"] == size
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    _blocks_back_in_the_pool()


def _chunked_head(image_id: str, token: str) -> bytes:
    return (
        f"PUT /image/v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
        "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()


def _chunks(data: bytes, size: int = 65536) -> bytes:
    return b"".join(
        b"%x\r\n" % len(data[at : at + size]) + data[at : at + size] + b"\r\n" for at in range(0, len(data), size)
    )


@pytest.mark.parametrize("ending", ["gone", "bad framing"])
def test_chunked_upload_cut_short_leaves_nothing(
    api: Any, served: int, offered: list[Any], tmp_path: Path, ending: str
) -> None:
    conn = Conn(served, api.a.token)
    image_id = conn.new_image()
    with socket.create_connection(("127.0.0.1", served)) as sock:
        sock.sendall(_chunked_head(image_id, api.a.token) + _chunks(os.urandom(9 * MiB)))
        deadline = time.monotonic() + 10
        while not offered:
            assert time.monotonic() < deadline, "the body was not offered as blocks"
            time.sleep(0.01)
        if ending == "bad framing":
            sock.sendall(b"not-hex\r\n")
            answer = b""
            while more := sock.recv(65536):  # answered, and the connection closed
                answer += more
            assert answer.startswith(b"HTTP/1.1 400 ")
    deadline = time.monotonic() + 10
    while (status := conn.show(image_id)["status"]) != "queued":
        assert status == "saving" and time.monotonic() < deadline, status
        time.sleep(0.05)
    assert stored_files(tmp_path / "images") == []
    _blocks_back_in_the_pool()
    data = os.urandom(5 * MiB)  # the client may try again
    assert conn.put_chunked(f"/images/{image_id}/file", data)[0] == 204
    assert conn.show(image_id)["checksum"] == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("target", ["file", "stage"])
def test_chunked_over_the_size_limit_refused_and_the_connection_kept(
    api: Any, served: int, offered: list[Any], tmp_path: Path, target: str
) -> None:
    """A chunked body in blocks is not counted by the request-body limit: the service's own
    ``max_image_size`` stops it."""
    api.runtime.config.image.max_image_size = 6 * MiB
    conn = Conn(served, api.a.token)
    image_id = conn.new_image()
    status, answer = conn.put_chunked(f"/images/{image_id}/{target}", os.urandom(10 * MiB))
    assert status == 413 and b"6291456 bytes" in answer  # the service's limit, not the request-body limit's
    assert len(offered) == 1 and offered[0].chunked
    assert conn.show(image_id)["status"] == "queued"  # on the same connection: the rest was dropped
    assert stored_files(tmp_path / "images") == []
    assert not api.runtime.image.importer.staged_path(image_id).exists()
    _blocks_back_in_the_pool()
