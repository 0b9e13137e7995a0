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


def changes_page(
    request: Request,
    rows: list[Any],
    version: tuple[int, int],
    updated: Any,
    key: Any,
    link_path: str,
    links_key: str,
    filters: frozenset[str] = frozenset(),
) -> tuple[list[Any], dict[str, Any]]:
    """Nova's paging of migrations and instance actions: ``changes-since`` (and from 2.66
    ``changes-before``) on ``updated(row)``, then ``marker`` (``key(row)``; an unknown one is 400)
    and ``limit`` with a next link under ``links_key``; any other parameter but ``filters`` is 400."""
    from overcast.compute.server_fields import parse_time

    q = request.query_params
    allowed = filters | {"limit", "marker", "changes-since"} | ({"changes-before"} if version >= (2, 66) else set())
    extra = sorted(set(q) - allowed)
    if extra:
        raise BadRequest(
            f"Invalid input for query parameters {', '.join(extra)}. Additional properties are not allowed"
        )
    since = parse_time(q["changes-since"], "changes-since") if "changes-since" in q else None
    before = parse_time(q["changes-before"], "changes-before") if "changes-before" in q else None
    if since and before and since > before:
        raise BadRequest("The value of changes-since must be less than or equal to changes-before.")
    rows = [r for r in rows if (since is None or updated(r) >= since) and (before is None or updated(r) <= before)]
    if "marker" in q:
        ids = [key(r) for r in rows]
        if q["marker"] not in ids:
            raise BadRequest(f"Marker {q['marker']} could not be found.")  # Nova: 400
        rows = rows[ids.index(q["marker"]) + 1 :]
    out: dict[str, Any] = {}
    if "limit" in q:
        try:
            limit = int(q["limit"])
        except ValueError:
            raise BadRequest(f"Invalid input for query parameters limit. Value: {q['limit']}.") from None
        if limit < 0:
            raise BadRequest(f"Invalid input for query parameters limit. Value: {q['limit']}.")
        if len(rows) > limit and limit:
            href = f"{base_url(request)}/compute/v2.1/{link_path}?limit={limit}&marker={key(rows[limit - 1])}"
            out[links_key] = [{"rel": "next", "href": href}]
        rows = rows[:limit]
    return rows, out
