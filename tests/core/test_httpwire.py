"""``overcast.httpwire``: the head and the body of a response go out in one write, and nothing
else changes: HEAD answers, streamed bodies, keep-alive, 100 Continue and websocket upgrades."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from overcast.httpwire import OneWriteHttpToolsProtocol
from overcast.testing.cloud import free_port


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
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
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


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=OneWriteHttpToolsProtocol, log_config=None)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port
    srv.should_exit = True
    thread.join(10)


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
