"""Image data: ``PUT /v2/images/{id}/file`` (streamed in, 204) and ``GET`` (streamed out,
with ``Content-MD5`` and single HTTP byte ranges).

The upload runs in a worker thread (the store hooks block) over the request body in
page-aligned blocks (:mod:`overcast.api.image.body`), read ahead by a few blocks (bounded),
so the data is never held whole in memory and receiving overlaps writing. The download
reads (and verifies) the next chunks in a thread while the event loop sends the current
one (:func:`read_ahead`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

from fastapi import Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from overcast.api.deps import authorize, get_runtime
from overcast.api.image.body import consume_body
from overcast.api.image.common import UnsupportedMediaType, no_content
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.errors import BadRequest
from overcast.runtime import Runtime

router = ResourceRouter(prefix="/v2/images/{image_id}/file")

#: download chunks read ahead of the one being sent
SEND_AHEAD = 2


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
    await consume_body(request, lambda chunks: runtime.image.upload(ctx, image_id, chunks, size=size))
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
