"""Overcast errors -> each service's OpenStack error format. The one place this mapping lives.

The service is chosen by the request path's first segment, so a 404 for an unknown route
is formatted the way that service's clients expect too.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.responses import Response

from overcast.errors import OvercastError

# Nova and Cinder name the body's single key by status.
_NOVA_KEYS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}

Body = tuple[str, bytes]  # (media type, body)


def _json(obj: object) -> bytes:
    return json.dumps(obj).encode()


def keystone_error(status: int, title: str, message: str, code: str) -> Body:
    return "application/json", _json({"error": {"code": status, "title": title, "message": message}})


def nova_error(status: int, title: str, message: str, code: str) -> Body:
    key = _NOVA_KEYS.get(status, "computeFault")
    return "application/json", _json({key: {"code": status, "message": message}})


def neutron_error(status: int, title: str, message: str, code: str) -> Body:
    return "application/json", _json({"NeutronError": {"type": code, "message": message, "detail": ""}})


def plain_error(status: int, title: str, message: str, code: str) -> Body:
    """Glance and Swift answer errors in plain text (webob style)."""
    return "text/plain; charset=utf-8", f"{status} {title}\n\n{message}\n".encode()


FORMATTERS: dict[str, Callable[[int, str, str, str], Body]] = {
    "identity": keystone_error,
    "compute": nova_error,
    "volume": nova_error,  # Cinder uses Nova's shape
    "networking": neutron_error,
    "image": plain_error,
    "object": plain_error,
}


def service_of_path(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def error_body(path: str, status: int, title: str, message: str, code: str | None = None) -> Body:
    formatter = FORMATTERS.get(service_of_path(path), keystone_error)
    return formatter(status, title, message, code or title.replace(" ", ""))


def overcast_error_body(path: str, exc: OvercastError) -> Body:
    return error_body(path, exc.status, exc.title, exc.message, exc.code)


def overcast_error_response(path: str, exc: OvercastError, base_url: str) -> Response:
    """The HTTP response for ``exc`` on ``path``: the service's format, and for a 401 the
    ``WWW-Authenticate`` header naming the identity endpoint (as Keystone's middleware does)."""
    media, body = overcast_error_body(path, exc)
    headers = {"WWW-Authenticate": f'Keystone uri="{base_url}/identity"'} if exc.status == 401 else None
    return Response(content=body, status_code=exc.status, media_type=media, headers=headers)


def error_response(path: str, status: int, title: str, message: str, code: str | None = None) -> Response:
    media, body = error_body(path, status, title, message, code)
    return Response(content=body, status_code=status, media_type=media)
