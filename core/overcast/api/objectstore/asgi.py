"""The Swift v1 data path as a lean ASGI app, mounted at ``/object/v1``.

Object requests are the hot path (benchmarked against real Swift), so this skips FastAPI's
per-request dependency machinery: it parses the path itself (object names keep every
``/``, a leading one included, and are decoded from the raw path as strict UTF-8),
authenticates with the identity service, enforces the policy rule, and makes one hop to a
worker thread for the blocking work. Errors are formatted by the core's one mapping
(:func:`overcast.api.errors.overcast_error_body`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import anyio
from anyio import from_thread, to_thread
from starlette.types import Scope

from overcast.api.errors import overcast_error_body
from overcast.errors import BadRequest, OvercastError, PreconditionFailed
from overcast.httpbody import EXTENSION, BodyBlocks, ClientGone
from overcast.objectstore import names
from overcast.objectstore.objects import Download

log = logging.getLogger(__name__)

PREFIX = names.SERVED_AT + "/v1/"
SMALL_BODY = 4 * 1024 * 1024  # bodies up to this size are read in the event loop before the hop
BATCH = 1024 * 1024  # a streamed body crosses to the worker thread in batches of about this size
TEXT_HTML = b"text/html; charset=UTF-8"


class Request:
    __slots__ = (
        "method",
        "path",
        "account",
        "project_id",
        "container",
        "obj",
        "headers",
        "query",
        "receive",
        "ctx",
        "body_blocks",
    )

    def __init__(self, scope: Scope, receive: Any) -> None:
        self.method: str = scope["method"]
        raw = scope.get("raw_path") or scope["path"].encode()
        try:
            path = unquote_to_bytes(raw.split(b"?", 1)[0]).decode("utf-8")
        except UnicodeDecodeError:
            raise PreconditionFailed("Invalid UTF8 or contains NULL") from None
        if not path.startswith(PREFIX):
            raise BadRequest("not a Swift v1 path")
        self.path = path[len(names.SERVED_AT) :]  # Swift's own form: /v1/<account>/...
        parts = path[len(PREFIX) :].split("/", 2)
        self.account = parts[0]
        self.project_id = names.project_of_account(self.account)
        self.container = parts[1] if len(parts) > 1 else ""
        self.obj = parts[2] if len(parts) > 2 else ""
        self.headers = {k.decode("latin-1").lower(): _text(v) for k, v in scope["headers"]}
        qs = scope.get("query_string", b"")
        self.query = dict(parse_qsl(qs.decode("utf-8", "replace"), keep_blank_values=True)) if qs else {}
        self.receive = receive
        self.ctx = None
        self.body_blocks: Callable[[], BodyBlocks | None] | None = scope.get("extensions", {}).get(EXTENSION)

    def length(self) -> int | None:
        value = self.headers.get("content-length")
        if value is None:
            return None
        if not value.isdigit():
            raise BadRequest("Invalid Content-Length")
        return int(value)

    async def read_all(self) -> list[bytes]:
        """The whole body as the chunks it came in (no joining copy)."""
        chunks = []
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            body = message.get("body", b"")
            if body:
                chunks.append(body)
            if not message.get("more_body"):
                return chunks

    async def _read_batch(self) -> tuple[list[bytes], bool]:
        """About :data:`BATCH` bytes of body; (chunks, more to come)."""
        chunks, size = [], 0
        while size < BATCH:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            body = message.get("body", b"")
            if body:
                chunks.append(body)
                size += len(body)
            if not message.get("more_body"):
                return chunks, False
        return chunks, True

    def upload(self) -> Iterator[bytes | memoryview]:
        """Like :meth:`stream`, but a large body comes as the page-aligned blocks the server
        reads it into (:mod:`overcast.httpbody`: no copy in Python; a part is reused once
        nothing refers to it), where the server offers them."""
        blocks = from_thread.run_sync(self.body_blocks) if self.body_blocks is not None else None
        if blocks is None:
            yield from self.stream()
        else:
            yield from blocks

    def stream(self) -> Iterator[bytes]:
        """The body as a blocking iterator, for use in a worker thread: one hop to the event
        loop per batch, not per network read."""
        more = True
        while more:
            chunks, more = from_thread.run(self._read_batch)
            yield from chunks


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _encode_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("utf-8")) for k, v in headers.items()]


async def send_simple(
    send: Any, status: int, headers: dict[str, str] | None = None, body: bytes = b"", content_type: bytes = TEXT_HTML
) -> None:
    raw = _encode_headers(headers) if headers else []
    if not any(k == b"content-type" for k, _ in raw):
        raw.append((b"content-type", content_type))
    raw = [h for h in raw if h[0] != b"content-length"]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_download(send: Any, download: Download, head: bool) -> None:
    headers = _encode_headers({k.lower(): v for k, v in download.headers.items()})
    await send({"type": "http.response.start", "status": download.status, "headers": headers})
    body = download.body
    if head:
        if hasattr(body, "close"):
            await to_thread.run_sync(_close, body)
        await send({"type": "http.response.body", "body": b""})
        return
    if isinstance(body, tuple):  # already in memory
        await send({"type": "http.response.body", "body": b"".join(body)})
        return
    try:
        while True:
            chunk = await to_thread.run_sync(next, body, None)
            if chunk is None:
                break
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        await to_thread.run_sync(_close, body)
    await send({"type": "http.response.body", "body": b""})


def _close(it: Any) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


def prefetch(download: Download) -> Download:
    """In the worker thread: pull a small body's first chunk, so that a one-chunk object
    needs no further hop (and errors before the first byte still get a proper status)."""
    body = download.body
    first = next(body, None)
    if first is None:
        _close(body)
        download.body = ()  # type: ignore[assignment]
        return download
    second = next(body, None)
    if second is None:
        _close(body)
        download.body = (first,)  # type: ignore[assignment]
        return download

    def rest() -> Iterator[bytes]:
        try:
            yield first
            yield second
            yield from body
        finally:
            _close(body)

    download.body = rest()
    return download


async def send_error(scope: Scope, send: Any, exc: OvercastError, base_url: str) -> None:
    media, body = overcast_error_body(scope["path"], exc)
    headers = {"content-type": media, **exc.headers()}
    if exc.status == 401:
        headers["www-authenticate"] = f'Keystone uri="{base_url}/identity"'
    if scope["method"] == "HEAD":
        body = b""
    await send_simple(send, exc.status, headers, body)


async def run(fn: Callable[..., Any], *args: Any) -> Any:
    return await to_thread.run_sync(fn, *args)


__all__ = [
    "Request",
    "ClientGone",
    "send_simple",
    "send_download",
    "send_error",
    "prefetch",
    "run",
    "anyio",
    "SMALL_BODY",
]
