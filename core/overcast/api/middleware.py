"""ASGI middleware: request ids, structured access logs, fast paths, and the request-body limit."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from overcast import metrics
from overcast.api.errors import error_body

log = logging.getLogger("overcast.api.access")

REQUEST_ID_HEADER = b"x-openstack-request-id"


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
            route = scope.get("route")  # the matched route, set by FastAPI's routing
            name = getattr(route, "name", None) or scope.get("overcast.fast_route")
            metrics.observe_request(scope["path"], scope.get("method", ""), name, status, time.perf_counter() - started)
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
                log.handle(log.makeRecord(log.name, logging.INFO, "", 0, "request", (), None, extra=fields))


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

    def __init__(
        self, app: Any, routes: dict[str, Any] | None = None, exact: dict[tuple[str, str], Any] | None = None
    ) -> None:
        self.app = app
        self.routes = tuple((routes or {}).items())
        self.exact = dict(exact or {})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            target = self.exact.get((scope["method"], path))
            if target is not None:
                scope["overcast.fast_route"] = path
            else:
                for prefix, app in self.routes:
                    if path.startswith(prefix):
                        target = app
                        scope["overcast.fast_route"] = prefix + "*"
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
        await _send_error(
            scope,
            send,
            500,
            "Internal Server Error",
            "An unexpected error prevented the server from fulfilling your request.",
        )


@dataclass(frozen=True)
class RouteLimit:
    """A route whose body streams to disk (image data, object data) and so may be larger
    than the default limit: ``method`` and a path matching ``pattern`` take up to ``limit``."""

    method: str
    pattern: re.Pattern[str]
    limit: int


class BodyLimitMiddleware:
    """One request-body limit for every path and content type, enforced before anything
    reads the body: ``limit`` bytes, or a :class:`RouteLimit`'s for the streaming routes.

    A declared ``Content-Length`` over the limit is refused at once (413 in the service's
    format), so no authentication or parsing is spent on it. A chunked body is counted as
    it is read; past the limit the app is told the client went away (the streaming routes
    then store nothing), its own answer is dropped, and the 413 is sent instead."""

    def __init__(self, app: Any, limit: int, routes: Sequence[RouteLimit] = ()) -> None:
        self.app = app
        self.limit = limit
        self.routes = tuple(routes)

    def limit_for(self, method: str, path: str) -> int:
        for route in self.routes:
            if route.method == method and route.pattern.match(path):
                return route.limit
        return self.limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _body_framing(scope)
        if declared is None and not chunked:  # no body (HTTP/1.1 without either header)
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        if declared is not None and not chunked:
            if declared > limit:
                await _send_too_large(scope, send, limit)
            else:  # the server delivers no more than the declared length
                await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: dict, receive: Any, send: Any, limit: int) -> None:
        seen = 0
        exceeded = started = False

        async def counting_receive() -> dict:
            nonlocal seen, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's answer to the "disconnect": the 413 replaces it
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await _send_too_large(scope, send, limit)


def _body_framing(scope: dict) -> tuple[int | None, bool]:
    """(declared Content-Length, chunked) of the request."""
    declared, chunked = None, False
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = None
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked


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
