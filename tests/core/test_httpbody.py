"""``overcast.httpbody``: a large request body read straight into page-aligned blocks arrives
whole and in order, the connection then serves the next request (kept alive or pipelined),
a consumer that stops early (or never reads) leaves the connection usable, a lost connection ends the
consumer with ``ClientGone``, small bodies are not offered, 100 Continue is still sent."""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import mmap
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from overcast import httpbody
from overcast.httpwire import BufferedReadsHttpProtocol
from overcast.testing.asgi_server import read_body, serving_in_thread

#: what the app saw of the last /gone request
seen: dict[str, Any] = {}


def consume(blocks: httpbody.BodyBlocks, stop_after: int | None) -> tuple[int, str]:
    """In a thread: the body's length and sha256; every part but the last a page-aligned
    view of a whole block."""
    digest, total, short = hashlib.sha256(), 0, 0
    for count, part in enumerate(blocks, start=1):
        assert isinstance(part, memoryview) and not short, "a part after a short one"
        assert ctypes.addressof(ctypes.c_char.from_buffer(part)) % mmap.PAGESIZE == 0
        short = len(part) < httpbody.BLOCK
        digest.update(part)
        total += len(part)
        if stop_after is not None and count >= stop_after:
            break
    return total, digest.hexdigest()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    start = scope.get("extensions", {}).get(httpbody.EXTENSION)
    blocks = (start() if scope["path"] == "/plain" else start(chunked=True)) if start is not None else None
    stop_after = 2 if scope["path"] == "/stop" else None
    if blocks is not None and scope["path"] == "/refuse":
        blocks.close()  # answered without reading: the body is dropped as it comes
        blocks = None
        total, digest, how = 0, hashlib.sha256().hexdigest(), "refused"
    elif blocks is not None:
        try:
            total, digest = await asyncio.to_thread(consume, blocks, stop_after)
        except httpbody.ClientGone:
            seen["gone"] = True
            return
        how = "blocks"
    elif scope["path"] != "/refuse":
        body = await read_body(receive)
        total, digest, how = len(body), hashlib.sha256(body).hexdigest(), "parts"
    payload = f"{how} {total} {digest}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    with serving_in_thread(app, BufferedReadsHttpProtocol, request.param) as port:
        yield port


def put(path: str, body: bytes, extra: str = "") -> bytes:
    return f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def answers(sock: socket.socket, count: int) -> list[str]:
    """``count`` responses' bodies (each with a Content-Length) off ``sock``."""
    data, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            more = sock.recv(65536)
            assert more, f"connection closed after {out}"
            data += more
        head, _, data = data.partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 100 "):
            continue
        length = int(
            next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")).split(b":")[1]
        )
        while len(data) < length:
            data += sock.recv(65536)
        out.append(data[:length].decode())
        data = data[length:]
    return out


def expect(body: bytes, how: str = "blocks") -> str:
    return f"{how} {len(body)} {hashlib.sha256(body).hexdigest()}"


def test_large_bodies_in_blocks_then_kept_alive(server: int) -> None:
    big = os.urandom(9 * httpbody.BLOCK + 12345)
    other = os.urandom(10 * httpbody.BLOCK)
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(put("/a", big))
        assert answers(sock, 1) == [expect(big)]
        sock.sendall(put("/b", other))
        assert answers(sock, 1) == [expect(other)]
        sock.sendall(put("/c", b"small"))
        assert answers(sock, 1) == [expect(b"small", "parts")]


def test_pipelined_after_a_large_body(server: int) -> None:
    big = os.urandom(10 * httpbody.BLOCK + 1)
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(put("/a", big) + put("/b", b"next") + put("/c", big))
        first, second, third = answers(sock, 3)
        assert (first, second) == (expect(big), expect(b"next", "parts"))
        # the third's app starts once the second has answered: the parser may have read
        # most of its body by then, which it then gets as parts
        assert third.split(" ", 1)[1] == expect(big).split(" ", 1)[1]


def test_consumer_that_stops_early_leaves_the_connection_usable(server: int) -> None:
    big = os.urandom(10 * httpbody.BLOCK)
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(put("/stop", big))
        total, digest = answers(sock, 1)[0].split()[1:]
        assert int(total) == 2 * httpbody.BLOCK
        assert digest == hashlib.sha256(big[: 2 * httpbody.BLOCK]).hexdigest()
        sock.sendall(put("/d", b"after"))
        assert answers(sock, 1) == [expect(b"after", "parts")]


def test_consumer_that_never_reads_leaves_the_connection_usable(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(put("/refuse", os.urandom(10 * httpbody.BLOCK)))
        assert answers(sock, 1) == [expect(b"", "refused")]
        sock.sendall(put("/d", b"after"))
        assert answers(sock, 1) == [expect(b"after", "parts")]


def test_lost_connection_ends_the_consumer(server: int) -> None:
    seen.clear()
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(put("/gone", os.urandom(10 * httpbody.BLOCK))[: 6 * httpbody.BLOCK])
        time.sleep(0.2)
    deadline = time.monotonic() + 10
    while "gone" not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen == {"gone": True}


def test_expect_100_continue(server: int) -> None:
    big = os.urandom(httpbody.MIN_BODY + 7)
    with socket.create_connection(("127.0.0.1", server)) as sock:
        head, body = put("/e", big, "Expect: 100-continue\r\n").split(b"\r\n\r\n", 1)
        sock.sendall(head + b"\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        assert answers(sock, 1) == [expect(big)]


def chunked(path: str, body: bytes, size: int, extra: str = "", trailer: bytes = b"") -> bytes:
    """A PUT whose body is sent in chunks of ``size`` bytes (the last one shorter), with a
    chunk extension on every other chunk and ``trailer`` fields after the last chunk."""
    framed = [f"PUT {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n{extra}\r\n".encode()]
    for n, at in enumerate(range(0, len(body), size)):
        part = body[at : at + size]
        framed.append(f"{len(part):x}{';ext=1' if n % 2 else ''}\r\n".encode() + part + b"\r\n")
    framed.append(b"0\r\n" + trailer + b"\r\n")
    return b"".join(framed)


@pytest.mark.parametrize(
    ("length", "size"),
    [
        (9 * httpbody.BLOCK + 12345, 65536),  # glanceclient's chunks: every block boundary inside none
        (6 * httpbody.BLOCK, 65536 + 7),  # chunks that straddle the blocks' boundaries
        (5 * httpbody.BLOCK + 1, 3 * httpbody.BLOCK + 5),  # a chunk longer than a block
        (httpbody.BLOCK + 3, 1000),  # many small chunks into a block
        (4 * httpbody.BLOCK, httpbody.BLOCK),  # exactly a block each
    ],
)
def test_chunked_bodies_in_blocks_then_kept_alive(server: int, length: int, size: int) -> None:
    body = os.urandom(length)
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(chunked("/a", body, size, trailer=b"X-Trailer: 1\r\n"))
        assert answers(sock, 1) == [expect(body)]
        sock.sendall(put("/b", b"next"))
        assert answers(sock, 1) == [expect(b"next", "parts")]


def test_chunked_body_offered_only_to_an_app_that_takes_it(server: int) -> None:
    body = os.urandom(6 * httpbody.BLOCK)
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(chunked("/plain", body, 65536))  # as the object API asks: not chunked ones
        assert answers(sock, 1) == [expect(body, "parts")]


def test_chunked_then_pipelined(server: int) -> None:
    body = os.urandom(7 * httpbody.BLOCK + 99)
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(chunked("/a", body, 65536) + put("/b", b"next") + chunked("/c", b"tiny", 2))
        assert answers(sock, 3) == [expect(body), expect(b"next", "parts"), expect(b"tiny", "parts")]


def test_chunked_consumer_that_stops_early_leaves_the_connection_usable(server: int) -> None:
    body = os.urandom(10 * httpbody.BLOCK)
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(chunked("/stop", body, 65536 + 7))
        total, digest = answers(sock, 1)[0].split()[1:]
        assert int(total) == 2 * httpbody.BLOCK
        assert digest == hashlib.sha256(body[: 2 * httpbody.BLOCK]).hexdigest()
        sock.sendall(put("/d", b"after"))
        assert answers(sock, 1) == [expect(b"after", "parts")]


def _gone_seen() -> None:
    deadline = time.monotonic() + 10
    while "gone" not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen == {"gone": True}


def test_chunked_lost_connection_ends_the_consumer(server: int) -> None:
    seen.clear()
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(chunked("/gone", os.urandom(10 * httpbody.BLOCK), 65536)[: 6 * httpbody.BLOCK])
        time.sleep(0.2)
    _gone_seen()


@pytest.mark.parametrize("bad", [b"zz\r\n", b"10000\r\n" + b"x" * 65536 + b"XX", b"-1\r\n"])
def test_bad_chunk_framing_is_refused_and_ends_the_consumer(server: int, bad: bytes) -> None:
    seen.clear()
    good = chunked("/gone", os.urandom(6 * httpbody.BLOCK), 65536)[: -len(b"0\r\n\r\n")]
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(good + bad)
        answer = b""
        while more := sock.recv(65536):  # the server answers and closes the connection
            answer += more
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Invalid HTTP request received." in answer
    _gone_seen()
