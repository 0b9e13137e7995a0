"""Small HTTP helpers shared by the image API modules."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from overcast.errors import BadRequest, OvercastError
from overcast.runtime import Runtime
from overcast.validation import check_body_text

PATCH_MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"
#: Glance's older patch media type: each operation names itself as its key
#: (``{"replace": "/name", "value": "x"}``), as python-glanceclient's v2.0 users and Tempest send.
PATCH_MEDIA_TYPE_V20 = "application/openstack-images-v2.0-json-patch"
_OPS = ("add", "remove", "replace")


def patch_operations(media: str, body: Any) -> Any:
    """The request's operations in the v2.1 form (``{"op": ..., "path": ...}``)."""
    if media == PATCH_MEDIA_TYPE:
        return body
    if media != PATCH_MEDIA_TYPE_V20:
        raise UnsupportedMediaType(f"Unsupported Content-Type: use {PATCH_MEDIA_TYPE}")
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    out = []
    for change in body:
        named = [op for op in _OPS if isinstance(change, dict) and op in change]
        if len(named) != 1:
            raise BadRequest("Operation objects must contain exactly one member named 'add', 'remove', or 'replace'.")
        op = named[0]
        out.append({"op": op, "path": change[op], **({"value": change["value"]} if "value" in change else {})})
    return out


class UnsupportedMediaType(OvercastError):
    status = 415
    title = "Unsupported Media Type"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def no_content() -> Response:
    """204 with an explicit ``Content-Length: 0`` (clients reuse connections)."""
    return Response(status_code=204, headers={"Content-Length": "0"})


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise BadRequest("A JSON request body is required.")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.") from None
    check_body_text(body)
    return body


def base_url(request: Request, runtime: Runtime) -> str:
    """The public base URL: the configured ``public_url`` or what the client used."""
    if runtime.config.api.public_url:
        return runtime.config.api.base_url()
    return str(request.base_url).rstrip("/")
