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
