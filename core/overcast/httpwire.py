"""uvicorn's httptools protocol, with each response's head sent in one write with its body.

uvicorn writes a response's status line and headers as soon as the app starts the response,
and the body in a second write: two ``send`` calls and, over TLS, two records, each encrypted
and framed on its own. Every API answer here is small and starts its body at once, so the
head is held until the first body part (or the connection's close) and goes out with it.
A ``100 Continue`` interim answer is never held: the client waits for it before its body, and
a response that ends with no body write (``HEAD``) sends its head as it completes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _HeadWithBody:
    """The transport as a response cycle sees it: ``write``, ``close``, ``is_closing``."""

    __slots__ = ("_transport", "_head", "_sent_head")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._sent_head = False

    def write(self, data: bytes) -> None:
        if self._sent_head:
            self._transport.write(data)
        elif self._head is None and not data.startswith(b"HTTP/1.1 100 "):
            self._head = data  # the status line and headers: wait for the body
        elif self._head is not None:
            self._sent_head = True
            self._transport.write(self._head + data)
            self._head = None
        else:
            self._transport.write(data)  # 100 Continue: now

    def flush(self) -> None:
        """Send a head still held (a response that ended without writing a body)."""
        if self._head is not None:
            self._sent_head = True
            self._transport.write(self._head)
            self._head = None

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` whose response cycles send the head with the body."""

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        cycle: Any = self.cycle
        if cycle is None or cycle is before:
            return  # a websocket upgrade: no response cycle here, the websocket protocol takes over
        wire = cycle.transport = _HeadWithBody(self.transport)
        completed = cycle.on_response

        def on_response() -> None:
            wire.flush()
            completed()

        cycle.on_response = on_response
