"""ASGI middleware: request ids, structured access logs, and the JSON body size limit."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from overcast.api.errors import error_body

log = logging.getLogger("overcast.api.access")

REQUEST_ID_HEADER = b"x-openstack-request-id"

#: Services with no data uploads: every body is limited, whatever its content type.
ALWAYS_LIMITED = ("/identity",)


class RequestIdAndLogMiddleware:
    """Gives each request an id (``req-<uuid>``), returns it in ``X-Openstack-Request-Id``
    (Nova also reads ``X-Compute-Request-Id``; under ``/object`` it is Swift's transaction id,
    also in ``X-Trans-Id``, on every response as Swift's proxy sends it), and logs one
    structured line per request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        swift = scope["path"].startswith("/object")
        request_id = new_trans_id() if swift else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                raw_id = request_id.encode()
                headers = [*message.get("headers", ()), (REQUEST_ID_HEADER, raw_id)]
                if scope["path"].startswith("/compute"):
                    headers.append((b"x-compute-request-id", raw_id))
                elif swift:
                    headers.append((b"x-trans-id", raw_id))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.INFO):
                # Logger.handle with a ready record: the same line as log.info(..., extra=)
                # without the caller lookup (a stack walk) that nobody reads for this line.
                fields = {
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                }
                log.handle(log.makeRecord(log.name, logging.INFO, "", 0, "request", None, None, extra=fields))


def new_request_id() -> str:
    """``req-`` and a random (version 4) UUID. From :mod:`random`, not the OS: a request
    id needs to be unique, not secret, and this runs on every request."""
    h = "%032x" % random.getrandbits(128)
    return f"req-{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def new_trans_id() -> str:
    """Swift's transaction id: ``tx``, 21 hex digits, ``-``, the time in 10 hex digits (the
    shape clients and Tempest match)."""
    return "tx%021x-%010x" % (random.getrandbits(84), int(time.time()))


class FastPathMiddleware:
    """Hands hot requests straight to a lean ASGI app, ahead of FastAPI's middleware,
    routing, dependency and exception layers, for paths whose per-request overhead is
    benchmarked: by path prefix (``FAST_PATHS``: Swift objects) or by exact method and
    path (``FAST_ROUTES``: token validation). A target formats its own errors through
    :mod:`overcast.api.errors`; an unexpected exception still gets a 500 in the service's
    format (as FastAPI's error layer would give it) if no response has started."""

    def __init__(self, app: Any, routes: dict[str, Any] | None = None, exact: dict[tuple[str, str], Any] | None = None) -> None:
        self.app = app
        self.routes = tuple((routes or {}).items())
        self.exact = dict(exact or {})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            target = self.exact.get((scope["method"], path))
            if target is None:
                for prefix, app in self.routes:
                    if path.startswith(prefix):
                        target = app
                        break
            if target is not None:
                await _guarded(target, scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _guarded(target: Any, scope: dict, receive: Any, send: Any) -> None:
    started = False

    async def tracking_send(message: dict) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await target(scope, receive, tracking_send)
    except Exception:
        log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
        if started:
            raise
        await _send_error(scope, send, 500, "Internal Server Error",
                          "An unexpected error prevented the server from fulfilling your request.")


class JsonBodyLimitMiddleware:
    """Refuses JSON request bodies over ``limit`` bytes with 413 in the service's format.

    Data uploads (image files, objects) are not JSON and stream through unlimited.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not (_is_json(scope) or scope["path"].startswith(ALWAYS_LIMITED)):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await _send_too_large(scope, send, self.limit)
            return
        seen = 0

        async def counting_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await _send_too_large(scope, send, self.limit)


class _TooLarge(Exception):
    pass


def _is_json(scope: dict) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in value
    return False


def _content_length(scope: dict) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(scope: dict, send: Any, limit: int) -> None:
    await _send_error(scope, send, 413, "Request Entity Too Large", f"Request body is larger than {limit} bytes")


def _accept(scope: dict) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"accept":
            return value.decode("latin-1")
    return None


async def _send_error(scope: dict, send: Any, status: int, title: str, message: str) -> None:
    media, body = error_body(scope["path"], status, title, message, accept=_accept(scope))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
