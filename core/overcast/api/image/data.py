"""Image data: ``PUT /v2/images/{id}/file`` (streamed in, 204) and ``GET`` (streamed out,
with ``Content-MD5`` and single HTTP byte ranges).

The upload runs in a worker thread (the store hooks block); it pulls the request body from
the event loop in 4 MiB blocks (the server delivers pieces of 64 KiB or so; fewer, larger
blocks mean fewer thread hand-offs and hash updates), read ahead by a few blocks (bounded),
so the data is never held whole in memory and receiving overlaps writing. The download
reads (and verifies) the next chunks in a thread while the event loop sends the current
one (:func:`read_ahead`).
"""

from __future__ import annotations

import asyncio
import mmap
import threading
from collections.abc import AsyncIterator, Iterator
from typing import cast

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from overcast.api.deps import authorize, get_runtime
from overcast.api.image.common import UnsupportedMediaType, no_content
from overcast.buffers import BufferPool
from overcast.context import RequestContext
from overcast.errors import BadRequest
from overcast.image.streaming import UploadAborted
from overcast.runtime import Runtime

router = APIRouter(prefix="/v2/images/{image_id}/file")

BLOCK = 4 * 1024 * 1024
#: blocks read ahead of the worker, so receiving overlaps writing and hashing
READ_AHEAD = 2
#: download chunks read ahead of the one being sent
SEND_AHEAD = 2


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
        pool = BufferPool(lambda: mmap.mmap(-1, BLOCK), keep=2 * READ_AHEAD + 4)
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
                    await self._send.send(UploadAborted("The client disconnected before the image data was complete."))
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


async def read_ahead(chunks: Iterator[bytes], depth: int = SEND_AHEAD) -> AsyncIterator[bytes]:
    """Yield ``chunks`` (blocking: the store's reads and their verification), produced by a
    thread up to ``depth`` chunks ahead, so the disk and the check work while the event loop
    sends. An error from ``chunks`` is raised here, in order; stopping early (the client went
    away) stops the thread, which closes ``chunks``."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Queue[object] = asyncio.Queue()
    room = threading.Semaphore(depth)
    stop = threading.Event()
    end = object()

    def hand_over(item: object) -> None:
        try:
            loop.call_soon_threadsafe(ready.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is waiting
            stop.set()

    def produce() -> None:
        try:
            for chunk in chunks:
                room.acquire()
                if stop.is_set():
                    return
                hand_over(chunk)
            hand_over(end)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the consumer
            hand_over(exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    threading.Thread(target=produce, name="image-read-ahead", daemon=True).start()
    try:
        while (item := await ready.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            room.release()
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        room.release()


def _declared_size(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        size = int(value)
    except ValueError:
        raise BadRequest(f"Invalid Content-Length {value!r}.") from None
    if size < 0:
        raise BadRequest(f"Invalid Content-Length {value!r}.")
    return size


@router.put("")
async def upload_data(
    image_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("image:images:upload")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    media = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
    if media != "application/octet-stream":
        raise UnsupportedMediaType(f"Unsupported Content-Type {media!r} for image data: use application/octet-stream.")
    size = _declared_size(request)
    body = RequestBodyBlocks(request)
    pump = asyncio.ensure_future(body.pump())
    try:
        await anyio.to_thread.run_sync(lambda: runtime.image.upload(ctx, image_id, body, size=size))
    finally:
        body.close()
        await pump
    return no_content()


@router.get("")
async def download_data(
    image_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("image:images:download")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    dl = await run_in_threadpool(runtime.image.open_download, ctx, image_id, request.headers.get("range"))
    if dl.chunks is None:
        return no_content()
    headers = {"Content-Length": str(dl.end - dl.start + 1), "Accept-Ranges": "bytes"}
    if dl.partial:
        headers["Content-Range"] = f"bytes {dl.start}-{dl.end}/{dl.size}"
    elif dl.checksum:
        headers["Content-MD5"] = dl.checksum
    return StreamingResponse(
        read_ahead(dl.chunks),
        status_code=206 if dl.partial else 200,
        media_type="application/octet-stream",
        headers=headers,
    )
