"""What the orchestration API modules share: the project in the path, JSON replies, links
to stacks, resources and events (Heat's ``make_link``), and Heat's time format."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from overcast.context import RequestContext
from overcast.errors import BadRequest, OvercastError
from overcast.validation import check_body_text


class HTTPForbidden(OvercastError):
    status = 403
    title = "Forbidden"

    def __init__(self) -> None:
        super().__init__("Access was denied to this resource.", code="HTTPForbidden")


class HTTPBadRequest(OvercastError):
    """A webob 400 raised by Heat's API layer (``error.type`` is ``HTTPBadRequest``)."""

    status = 400
    title = "Bad Request"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="HTTPBadRequest")


def check_project(tenant_id: str, ctx: RequestContext) -> None:
    """Heat refuses a path whose project is not the token's (admins use their own)."""
    if ctx.project_id != tenant_id and not ctx.is_admin:
        raise HTTPForbidden()


def reply(body: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if body is None:
        return Response(status_code=status, headers=headers)
    return Response(content=json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def isotime(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def base(request: Request, tenant_id: str) -> str:
    return str(request.base_url).rstrip("/") + f"/orchestration/v1/{tenant_id}"


def stack_url(request: Request, tenant_id: str, name: str, stack_id: str) -> str:
    return f"{base(request, tenant_id)}/stacks/{quote(name, safe='')}/{stack_id}"


def link(href: str, rel: str = "self") -> dict[str, str]:
    return {"href": href, "rel": rel}


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise HTTPBadRequest(
            "The server could not comply with the request since it is either malformed or otherwise incorrect."
        ) from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    check_body_text(body)
    return body


def bool_param(name: str, value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "t", "true", "on", "y", "yes"):
        return True
    if lowered in ("0", "f", "false", "off", "n", "no"):
        return False
    raise HTTPBadRequest(f'Unrecognized value "{value}" for "{name}", acceptable values are: true, false')
