"""What every volume API module shares: microversions, the project in the path, paging
parameters and JSON replies with the right headers (Cinder v3)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.context import RequestContext
from overcast.errors import BadRequest, Forbidden, OvercastError
from overcast.validation import check_body_text

MIN_VERSION = (3, 0)
MAX_VERSION = (3, 71)
VERSION_HEADER = "OpenStack-API-Version"


class NotAcceptable(OvercastError):
    status = 406
    title = "Not Acceptable"


@dataclass(frozen=True)
class ApiVersion:
    major: int
    minor: int

    def at_least(self, minor: int) -> bool:
        return self.minor >= minor

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def api_version(request: Request) -> ApiVersion:
    """The microversion the client asked for (``OpenStack-API-Version: volume 3.x``)."""
    raw = request.headers.get(VERSION_HEADER, "")
    wanted = None
    for part in raw.split(","):
        bits = part.strip().split()
        if len(bits) == 2 and bits[0].lower() in ("volume", "block-storage"):
            wanted = bits[1]
    if wanted is None:
        return ApiVersion(*MIN_VERSION)
    if wanted.lower() == "latest":
        return ApiVersion(*MAX_VERSION)
    m = re.fullmatch(r"(\d+)\.(\d+)", wanted)
    if not m:
        raise BadRequest(f"Invalid API version format: {wanted!r}.")
    version = (int(m.group(1)), int(m.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise NotAcceptable(f"Version {wanted} is not supported by the API. Minimum is 3.0 and maximum is 3.71.")
    return ApiVersion(*version)


def reply(body: Any = None, status: int = 200, version: ApiVersion | None = None) -> Response:
    """A JSON reply (or an empty one) with Content-Length and the version headers."""
    headers = {}
    if version is not None:
        headers = {VERSION_HEADER: f"volume {version}", "Vary": VERSION_HEADER}
    if body is None:
        return Response(status_code=status, headers=headers)
    return Response(content=json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def check_project(project_id: str, ctx: RequestContext) -> None:
    """The project in the URL must be the token's (admins may name any)."""
    if project_id != ctx.project_id and not ctx.is_admin:
        raise Forbidden(
            f"Policy doesn't allow this operation on project {project_id} with a token scoped to another project."
        )


def body_of(data: Any, key: str) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise BadRequest(f"Missing required element '{key}' in request body.")
    return data[key]


def paging(request: Request) -> tuple[str | None, int | None]:
    q = request.query_params
    limit = q.get("limit")
    if limit is not None:
        if not limit.isdigit():
            raise BadRequest(f"Invalid input received: limit must be a non-negative integer, got {limit!r}.")
        limit_int: int | None = int(limit)
    else:
        limit_int = None
    return q.get("marker") or None, limit_int


def offset_of(request: Request) -> int | None:
    """``offset``: rows to skip before the page (Cinder's list parameter)."""
    value = request.query_params.get("offset")
    if value is None:
        return None
    if not value.isdigit():
        raise BadRequest(f"Invalid input received: offset must be a non-negative integer, got {value!r}.")
    return int(value)


def sort_keys(request: Request) -> list[tuple[str, str]] | None:
    q = request.query_params
    if q.get("sort"):
        out = []
        for item in q["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            out.append((key, (direction or "desc").lower()))
        return out
    if q.get("sort_key") or q.get("sort_dir"):
        return [(q.get("sort_key") or "created_at", (q.get("sort_dir") or "desc").lower())]
    return None


def truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y", "t")


def all_projects(request: Request, ctx: RequestContext) -> bool:
    q = request.query_params
    return ctx.is_admin and truthy(q.get("all_tenants", q.get("all_projects", "0")))


def base_url(request: Request) -> str:
    runtime = request.app.state.runtime
    return runtime.config.api.public_url.rstrip("/") or str(request.base_url).rstrip("/")


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("Malformed request body: not valid JSON.") from None
    check_body_text(body)
    return body


Version = Depends(api_version)
