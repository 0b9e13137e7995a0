"""An image upload's request body (``PUT .../file`` and ``PUT .../stage``), handed to the
service's blocking consumer in a worker thread.

Where the server offers it (the API's own HTTP protocol, :mod:`overcast.httpwire`), the body
comes in pooled page-aligned 4 MiB blocks (:class:`~overcast.httpbody.BodyBlocks`, in huge
pages), each of
which reaches the hashes and the store's ``O_DIRECT`` write as it is: a body with a
``Content-Length`` of 4 MiB or more is read straight off the socket into them (the kernel's
copy out of the socket is the only one, the event loop does no per-byte work), a chunked one
(``Transfer-Encoding: chunked``, as glanceclient sends) is decoded by the HTTP parser and each
part it hands on copied into them. Otherwise (a small body, one already in, another server)
:class:`RequestBodyBlocks` gathers the parts the ASGI server delivers into blocks on the
event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import cast

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import Request
from starlette.requests import ClientDisconnect

from overcast.buffers import BufferPool, anonymous
from overcast.httpbody import EXTENSION, LARGE_BLOCK, BodyBlocks, ClientGone
from overcast.image.streaming import UploadAborted

#: the blocks the other path (a server without body blocks) gathers: the same size as those
BLOCK = LARGE_BLOCK
#: blocks read ahead of the worker, so receiving overlaps writing and hashing
READ_AHEAD = 2

DISCONNECTED = "The client disconnected before the image data was complete."


async def consume_body(request: Request, consume: Callable[[Iterable[bytes]], None]) -> None:
    """Run ``consume`` over the request's body in a worker thread; whatever it raises is
    raised here. A consumer that stops early (or never reads) leaves the rest of the body
    to be read and dropped, so the connection stays usable; a client that goes away
    surfaces in the consumer as :class:`~overcast.image.streaming.UploadAborted`."""
    start = request.scope.get("extensions", {}).get(EXTENSION)
    # the service counts max_image_size; large blocks: the hashes' threads take a quarter as many
    blocks = start(chunked=True, block=LARGE_BLOCK) if start is not None else None
    if blocks is not None:
        await anyio.to_thread.run_sync(_consume_blocks, blocks, consume)
        return
    body = RequestBodyBlocks(request)
    pump = asyncio.ensure_future(body.pump())
    try:
        await anyio.to_thread.run_sync(consume, body)
    finally:
        body.close()
        await pump


def _consume_blocks(blocks: BodyBlocks, consume: Callable[[Iterable[bytes]], None]) -> None:
    try:
        consume(cast("Iterable[bytes]", _blocks(blocks)))  # memoryviews: bytes-like for every consumer
    finally:
        blocks.close()


def _blocks(blocks: BodyBlocks) -> Iterator[memoryview]:
    try:
        yield from blocks
    except ClientGone:
        raise UploadAborted(DISCONNECTED) from None


class RequestBodyBlocks:
    """The request body as a blocking iterator of ~4 MiB blocks, for a worker thread.

    :meth:`pump` runs on the event loop and reads ahead up to :data:`READ_AHEAD` blocks
    while the worker writes the previous ones; a client that goes away surfaces in the
    worker as :class:`UploadAborted`, and a worker that stops early stops the pump."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._send, self._receive = anyio.create_memory_object_stream[bytes | BaseException](READ_AHEAD)

    async def pump(self) -> None:
        """Never raises: what goes wrong is handed to the worker. Full blocks are exactly
        :data:`BLOCK` bytes, gathered in pooled page-aligned buffers (anonymous maps, which
        a store may write with ``O_DIRECT`` as they are); the last one is a copy of its part."""
        pool = BufferPool(lambda: anonymous(BLOCK), keep=2 * READ_AHEAD + 4)
        block = pool.take()
        view, filled = memoryview(block), 0
        try:
            async with self._send:
                try:
                    async for chunk in self._request.stream():
                        src = memoryview(chunk)
                        while src:
                            n = min(len(src), BLOCK - filled)
                            view[filled : filled + n] = src[:n]
                            filled += n
                            src = src[n:]
                            if filled == BLOCK:
                                view.release()
                                await self._send.send(cast(bytes, block))  # a page-aligned buffer, read as bytes
                                block = pool.take()
                                view, filled = memoryview(block), 0
                    if filled:
                        await self._send.send(bytes(view[:filled]))
                except ClientDisconnect:
                    await self._send.send(UploadAborted(DISCONNECTED))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the worker stopped reading

    def close(self) -> None:
        """Called on the event loop once the worker is done."""
        self._receive.close()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                item = anyio.from_thread.run(self._receive.receive)
            except anyio.EndOfStream:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
