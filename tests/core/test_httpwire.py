"""``overcast.httpwire``: the head and the body of a response go out in one write, request body
parts reach the app uncopied, reads land in a reused buffer (:class:`BufferedReadsHttpProtocol`),
and nothing else changes: HEAD answers, streamed and large bodies, keep-alive, pipelining,
100 Continue and websocket upgrades, on uvloop and asyncio."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from overcast.httpwire import BufferedReadsHttpProtocol, OneWriteHttpToolsProtocol
from overcast.testing.asgi_server import read_body, serving_in_thread


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": "echo " + message.get("text", "")})
        await send({"type": "websocket.close"})
        return
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    if scope["path"] == "/digest":
        payload = f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": payload})
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for part in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    payload = b"hello " + body
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture(
    scope="module",
    params=[
        pytest.param((OneWriteHttpToolsProtocol, "uvloop"), id="one-write-uvloop"),
        pytest.param((BufferedReadsHttpProtocol, "uvloop"), id="buffered-uvloop"),
        pytest.param((BufferedReadsHttpProtocol, "asyncio"), id="buffered-asyncio"),
    ],
)
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    protocol, loop = request.param
    with serving_in_thread(app, protocol, loop) as port:
        yield port


def test_get_head_stream_and_keep_alive(server: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{server}") as c:
        for _ in range(3):  # one keep-alive connection, several cycles
            assert c.get("/x").text == "hello "
        head = c.head("/x")
        assert head.status_code == 200 and head.headers["content-length"] == "6" and head.content == b""
        assert c.get("/stream").text == "one two three"
        assert c.post("/x", content=b"body").text == "hello body"


def test_one_write_for_head_and_body(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as s:
        s.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        first = s.recv(65536)  # the head and the body arrive together
        assert first.startswith(b"HTTP/1.1 200") and first.endswith(b"\r\n\r\nhello ")


def test_expect_100_continue_is_not_held(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as s:
        s.sendall(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(b"abc")
        assert s.recv(65536).endswith(b"hello abc")


def test_websocket_upgrade(server: int) -> None:
    import websockets

    async def talk() -> str:
        async with websockets.connect(f"ws://127.0.0.1:{server}/ws") as ws:
            await ws.send("hi")
            return str(await ws.recv())

    assert asyncio.run(talk()) == "echo hi"


def test_large_body_arrives_whole(server: int) -> None:
    """Bodies larger than the read buffer, over several reads, and an odd size."""
    data = os.urandom(5 * 1024 * 1024 + 7)
    with httpx.Client(base_url=f"http://127.0.0.1:{server}") as c:
        for _ in range(2):
            answer = c.post("/digest", content=data).text
            assert answer == f"{len(data)} {hashlib.sha256(data).hexdigest()}"
        # a streamed (chunked) body
        parts = [data[i : i + 300_001] for i in range(0, len(data), 300_001)]
        assert c.post("/digest", content=iter(parts)).text == answer


def test_pipelined_requests_in_one_read(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as s:
        s.sendall(
            b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
            b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz"
        )
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    assert got.count(b"HTTP/1.1 200") == 2 and b"hello abc" in got and got.endswith(b"hello xyz")


def test_body_parts_reach_the_app_uncopied() -> None:
    """Each part the parser delivers is the very object the app receives."""
    parsed: list[bytes] = []
    received: list[bytes] = []

    class Recording(OneWriteHttpToolsProtocol):
        def on_body(self, body: bytes) -> None:
            parsed.append(body)
            super().on_body(body)

    async def recorder(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            if message.get("body"):
                received.append(message["body"])
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serving_in_thread(recorder, Recording, "auto") as port:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 30000\r\n\r\n")
            for _ in range(3):  # three parts, each read and received before the next is sent
                time.sleep(0.2)
                s.sendall(os.urandom(10000))
            assert s.recv(65536).startswith(b"HTTP/1.1 204")
    assert sum(map(len, received)) == 30000 and len(received) == 3
    assert all(any(r is p for p in parsed) for r in received)
