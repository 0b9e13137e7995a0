"""Overcast errors -> each service's OpenStack error format. The one place this mapping lives.

The service is chosen by the request path's first segment, so a 404 for an unknown route
is formatted the way that service's clients expect too.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping

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


def octavia_error(status: int, title: str, message: str, code: str) -> Body:
    """Octavia's (WSME) fault body: ``faultcode`` is ``Client`` for 4xx, ``Server`` else."""
    fault = "Client" if 400 <= status < 500 else "Server"
    return "application/json", _json({"faultcode": fault, "faultstring": message, "debuginfo": None})


def plain_error(status: int, title: str, message: str, code: str) -> Body:
    """Glance and Swift answer errors in plain text (webob style)."""
    return "text/plain; charset=utf-8", f"{status} {title}\n\n{message}\n".encode()


def _accept_q(accept: str, offer: str) -> float:
    """The quality ``accept`` gives to media type ``offer`` (exact > type/* > */*)."""
    best, best_rank = 0.0, -1
    kind = offer.split("/", 1)[0]
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        rank = 2 if media == offer else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
        if rank < best_rank or rank < 0:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best, best_rank = q, rank
    return best


def glance_error(status: int, title: str, message: str, code: str, accept: str | None = None) -> Body:
    """What Glance's webob exceptions answer: HTML when the client accepts it (keystoneauth
    sends ``*/*``, and openstacksdk shows the HTML's text as the error's details), JSON
    ``{"message", "code", "title"}`` when it prefers JSON, else plain text."""
    offers = ("text/html", "application/json")
    if not accept:
        match: str | None = "text/html"
    else:
        scored = [(_accept_q(accept, offer), -i, offer) for i, offer in enumerate(offers)]
        q, _, match = max(scored)
        match = match if q > 0 else None
    status_line = f"{status} {title}"
    if match == "text/html":
        page = (
            f"<html>\n <head>\n  <title>{status_line}</title>\n </head>\n <body>\n  <h1>{status_line}</h1>\n"
            f"  {html.escape(message)}<br /><br />\n\n\n\n </body>\n</html>"
        )
        return "text/html; charset=UTF-8", page.encode()
    if match == "application/json":
        return "application/json", _json({"message": message, "code": status_line, "title": title})
    return plain_error(status, title, message, code)


# --- orchestration ---
#: webob's explanation per status, which Heat's fault body carries
_WEBOB_EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed or otherwise incorrect.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The server could not comply with the request since it is either malformed or otherwise incorrect.",
    409: "There was a conflict when trying to complete your request.",
    413: "The request is larger than the server is willing or able to process.",
    500: "The server has either erred or is incapable of performing the requested operation.",
    503: "The server is currently unavailable. Please try again at a later time.",
}


def heat_error(status: int, title: str, message: str, code: str) -> Body:
    """Heat's FaultWrapper body; a 401 comes from keystonemiddleware in Keystone's shape."""
    if status == 401:
        return keystone_error(status, title, message, code)
    body = {
        "explanation": _WEBOB_EXPLANATIONS.get(status, _WEBOB_EXPLANATIONS[500]),
        "code": status,
        "error": {"message": message, "traceback": None, "type": code},
        "title": title,
    }
    return "application/json", _json(body)


FORMATTERS: dict[str, Callable[[int, str, str, str], Body]] = {
    "identity": keystone_error,
    "compute": nova_error,
    "volume": nova_error,  # Cinder uses Nova's shape
    "networking": neutron_error,
    "image": glance_error,
    "object": plain_error,
    "load-balancer": octavia_error,
}
FORMATTERS["orchestration"] = heat_error


def service_of_path(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def error_body(
    path: str, status: int, title: str, message: str, code: str | None = None, accept: str | None = None
) -> Body:
    """The error in the format of the service at ``path``; the image service (as Glance)
    also follows the request's ``Accept`` header."""
    service = service_of_path(path)
    code = code or title.replace(" ", "")
    if service == "image":
        return glance_error(status, title, message, code, accept)
    return FORMATTERS.get(service, keystone_error)(status, title, message, code)


def overcast_error_body(path: str, exc: OvercastError, accept: str | None = None) -> Body:
    return error_body(path, exc.status, exc.title, exc.message, exc.code, accept)


def overcast_error_response(path: str, exc: OvercastError, base_url: str, accept: str | None = None) -> Response:
    """The HTTP response for ``exc`` on ``path``: the service's format, and for a 401 the
    ``WWW-Authenticate`` header naming the identity endpoint (as Keystone's middleware does)."""
    media, body = overcast_error_body(path, exc, accept)
    headers = exc.headers()
    if exc.status == 401:
        headers["WWW-Authenticate"] = f'Keystone uri="{base_url}/identity"'
    return Response(content=body, status_code=exc.status, media_type=media, headers=headers)


def error_response(
    path: str,
    status: int,
    title: str,
    message: str,
    code: str | None = None,
    accept: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    media, body = error_body(path, status, title, message, code, accept)
    return Response(content=body, status_code=status, media_type=media, headers=headers)
