"""A real uvicorn server for an ASGI app in a thread on a free loopback port, for tests of the
HTTP layer (the wire protocols of :mod:`overcast.httpwire`) over real connections."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn

from overcast.testing.cloud import free_port


async def read_body(receive: Any) -> bytes:
    """A request's whole body, from its ASGI ``receive``."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


@contextmanager
def serving_in_thread(
    app: Any, http: Any, loop: str = "auto", lifespan: Literal["auto", "on", "off"] = "auto"
) -> Iterator[int]:
    """Serve ``app`` with the HTTP protocol class ``http`` on event loop ``loop`` (uvicorn's
    "uvloop", "asyncio" or "auto"; ``lifespan`` "off" for an app whose runtime the test has
    started itself); the port, once the server accepts. Stopped on exit."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=http, loop=loop, lifespan=lifespan, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
