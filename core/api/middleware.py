"""ASGI middleware: request ids, structured access logs, and the JSON body size limit."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from overcast.api.errors import error_body

log = logging.getLogger("overcast.api.access")

REQUEST_ID_HEADER = b"x-openstack-request-id"

#: Services with no data uploads: every body is limited, whatever its content type.
ALWAYS_LIMITED = ("/identity",)
#: Data paths whose bodies are user data, whatever their content type (an object may well be
#: a large JSON file); their services bound them by their own limits.
NEVER_LIMITED = ("/object/v1/",)


class RequestIdAndLogMiddleware:
    """Gives each request an id (``req-<uuid>``), returns it in ``X-Openstack-Request-Id``
    (Nova also reads ``X-Compute-Request-Id``), and logs one structured line per request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}"
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                if scope["path"].startswith("/compute"):
                    headers.append((b"x-compute-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status_holder["status"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )


class JsonBodyLimitMiddleware:
    """Refuses JSON request bodies over ``limit`` bytes with 413 in the service's format.

    Data uploads (image files, objects) are not JSON and stream through unlimited.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if (scope["type"] != "http" or scope["path"].startswith(NEVER_LIMITED)
                or not (_is_json(scope) or scope["path"].startswith(ALWAYS_LIMITED))):
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
    media, body = error_body(scope["path"], 413, "Request Entity Too Large", f"Request body is larger than {limit} bytes")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
