"""uvicorn's httptools protocol, with each response's head sent in one write with its body,
and request bodies handed to the app as the parser delivers them.

uvicorn writes a response's status line and headers as soon as the app starts the response,
and the body in a second write: two ``send`` calls and, over TLS, two records, each encrypted
and framed on its own. Every API answer here is small and starts its body at once, so the
head is held until the first body part (or the connection's close) and goes out with it.
A ``100 Continue`` interim answer is never held: the client waits for it before its body, and
a response that ends with no body write (``HEAD``) sends its head as it completes.

Request bodies cost the event loop's core as little as they can, which a large upload (an
image, whose md5 and sha512 take the other cores) needs: uvicorn gathers a body's parts in a
``bytearray`` and hands the app a ``bytes`` copy of it, two copies of every byte; here the
parser's part is handed on as it is (flow control keeps about one part pending). And the
socket is read into one reused 4 MiB buffer per event-loop thread
(:class:`BufferedReadsHttpProtocol`, an ``asyncio.BufferedProtocol``) rather than into a new
~256 KB ``bytes`` per read: no copy and no allocation per read, and far fewer reads.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from overcast import httpbody
from overcast.buffers import anonymous


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
    """:class:`HttpToolsProtocol` whose response cycles send the head with the body, and
    whose request body parts reach the app without being copied. Read through a
    :class:`BufferedReadsHttpProtocol` (``reads``), a request with a ``Content-Length`` or a
    chunked one offers the app the rest of its body as :class:`~overcast.httpbody.BodyBlocks`:
    the scope's extension :data:`overcast.httpbody.EXTENSION` is a callable (for the event
    loop) that returns them, or None where the body is small or already in."""

    reads: BufferedReadsHttpProtocol | None = None
    body_seen = 0  # bytes of the current request's body the parser has handed on
    feeding: httpbody.BodyBlocks | None = None  # the chunked body the parser's parts go into

    def on_body(self, body: bytes) -> None:
        self.body_seen += len(body)
        if self.feeding is not None:
            self.feeding.feed(body)
            return
        cycle: Any = self.cycle
        if not cycle.body:
            # ``b"" + body`` is ``body`` itself, and so is uvicorn's ``bytes(cycle.body)`` when
            # the app receives it: no copy
            cycle.body = b""
        elif type(cycle.body) is bytes:
            # a second part before the app took the first: gathered in a bytearray, as uvicorn
            # does, not joined to all before it again for each part (one read of 4 MiB in 64 KiB
            # chunks is 64 parts: joined, 32 bytes copied per byte; a chunked image upload on the
            # ASGI path cost the event loop 20-26 ms of CPU per MiB)
            cycle.body = bytearray(cycle.body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        feeding, self.feeding = self.feeding, None
        if feeding is not None:
            feeding.end()
        super().on_message_complete()

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        cycle: Any = self.cycle
        if cycle is None or cycle is before:
            return  # a websocket upgrade: no response cycle here, the websocket protocol takes over
        wire = cycle.transport = _HeadWithBody(self.transport)
        completed = cycle.on_response
        self.body_seen = 0
        reads = self.reads
        if reads is not None:
            cycle.scope.setdefault("extensions", {})[httpbody.EXTENSION] = lambda chunked=False, block=httpbody.BLOCK: (
                reads.body_blocks(cycle, chunked, block)
            )

        def on_response() -> None:
            wire.flush()
            completed()

        cycle.on_response = on_response


#: bytes one read of a connection may take: a large upload is read in parts of up to this size
#: (the socket buffers them while the app is busy), the fewer the parts the less Python per byte
#: (the event loop's CPU per MiB of an image upload, reading 256 KiB / 1 / 4 MiB: 0.9 / 0.6 / 0.5 ms)
READ_BUFFER = 4 * 1024 * 1024
_buffers = threading.local()


def _read_buffer() -> memoryview:
    """This thread's read buffer: the event loop reads every connection's bytes into it and
    parses them at once (the parser copies what it keeps), so one buffer serves them all.
    Anonymous memory, not a ``bytearray`` (which zero-fills, so all 4 MiB would be resident in
    every API process): a page costs memory only once a read has reached it."""
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = _buffers.view = memoryview(anonymous(READ_BUFFER))
    return view


class BufferedReadsHttpProtocol(asyncio.BufferedProtocol):
    """:class:`OneWriteHttpToolsProtocol` (``inner``) fed from reads into this thread's
    reused buffer. A wrapper, not a subclass: uvloop reads into the protocol's buffer only
    when it is no ``asyncio.Protocol``. A websocket upgrade hands the transport to the
    websocket protocol as before (``inner`` sets it)."""

    def __init__(self, **kwargs: Any) -> None:
        self.inner = OneWriteHttpToolsProtocol(**kwargs)
        self.inner.reads = self
        self.blocks: httpbody.BodyBlocks | None = None  # the body being read into blocks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.blocks is not None:
            self.blocks.lost()
            self.blocks = None
        feeding, self.inner.feeding = self.inner.feeding, None
        if feeding is not None:
            feeding.lost()
        self.inner.connection_lost(exc)

    def eof_received(self) -> None:
        self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.blocks is not None:
            return self.blocks.buffer()
        return _read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        blocks = self.blocks
        if blocks is None:
            self.inner.data_received(_read_buffer()[:nbytes])  # type: ignore[arg-type]
        elif blocks.filled(nbytes):
            # the body is in: the parser, which never saw its rest, starts afresh at the next
            # request (reads stopped at the body's end), and the request is complete
            self.blocks = None
            inner = self.inner
            inner.parser = httptools.HttpRequestParser(inner)
            inner.parser.set_dangerous_leniencies(lenient_data_after_close=True)
            inner.on_message_complete()

    def body_blocks(self, cycle: Any, chunked: bool = False, block: int = httpbody.BLOCK) -> httpbody.BodyBlocks | None:
        """The rest of ``cycle``'s body as blocks, from now on; None unless it is the request
        being read, still coming, and either with a ``Content-Length`` and at least
        :data:`~overcast.httpbody.MIN_BODY` bytes still to come (read off the socket into the
        blocks, the parser never sees them) or, if the caller takes one (``chunked``),
        chunked (``Transfer-Encoding: chunked``: the parser decodes the framing, and each part
        it hands on is copied into the blocks, see :meth:`OneWriteHttpToolsProtocol.on_body`).
        A chunked body's size is known only as it comes, and the request-body limit
        (:class:`overcast.api.middleware.BodyLimitMiddleware`) counts it as the app receives
        it: one taken in blocks is not seen there, so only an app that enforces its own limit
        as it reads (the image service's ``max_image_size``) takes it. ``block``: the
        blocks' size, :data:`~overcast.httpbody.BLOCK` or :data:`~overcast.httpbody.LARGE_BLOCK`."""
        inner = self.inner
        if cycle is not inner.cycle or self.blocks is not None or inner.feeding is not None:
            return None
        if not cycle.more_body or cycle.disconnected:
            return None
        headers = dict(cycle.scope["headers"])
        length = headers.get(b"content-length")
        coding = headers.get(b"transfer-encoding")
        if coding is not None:
            if not chunked or length is not None or coding.strip().lower() != b"chunked":
                return None
            remaining = None
        elif length is None or not length.isdigit():
            return None
        else:
            remaining = int(length) - inner.body_seen
            if remaining < httpbody.MIN_BODY:
                return None
        if cycle.waiting_for_100_continue and not inner.transport.is_closing():
            inner.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        first, cycle.body = bytes(cycle.body), bytearray()
        flow = inner.flow
        blocks = httpbody.BodyBlocks(inner.loop, flow.pause_reading, flow.resume_reading, first, remaining, block)
        if remaining is None:
            inner.feeding = blocks
        else:
            self.blocks = blocks
        flow.resume_reading()
        return blocks
