"""Helpers shared by the compute API modules: JSON bodies, links, timestamps, replies."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import Request, Response

from overcast.errors import BadRequest
from overcast.validation import check_body_text


async def json_body(request: Request) -> Any:
    """The request's JSON body; 400 in Nova's format if it is missing or malformed."""
    raw = await request.body()
    if not raw:
        raise BadRequest(
            "The server could not comply with the request since it is either malformed or otherwise incorrect."
        )
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Malformed request body") from None
    check_body_text(body)
    return body


def wrapped(body: Any, key: str) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"Invalid input: the body must be an object with '{key}'.")
    return body[key]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def links(request: Request, collection: str, item_id: str) -> list[dict]:
    base = base_url(request)
    return [
        {"rel": "self", "href": f"{base}/compute/v2.1/{collection}/{item_id}"},
        {"rel": "bookmark", "href": f"{base}/compute/{collection}/{item_id}"},
    ]


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def iso_micro(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def reply(body: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with an exact Content-Length (also for empty 202/204 bodies)."""
    content = b"" if body is None else json.dumps(body).encode()
    media = "application/json" if body is not None else None
    return Response(content=content, status_code=status, media_type=media, headers=headers)


def query_params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items()}
