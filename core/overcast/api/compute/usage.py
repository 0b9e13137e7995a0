"""``/os-simple-tenant-usage`` (Nova; issue 18): every project's usage (admin) or one
project's (its own members, or admins), over ``start``..``end``."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from overcast.api.compute.common import base_url, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute.usage import parse_time, usage_page
from overcast.context import RequestContext
from overcast.errors import Forbidden

router = ResourceRouter(route_class=MicroversionRoute)


def _period(request: Request) -> tuple[Any, Any, bool]:
    q = request.query_params
    return parse_time(q.get("start")), parse_time(q.get("end")), q.get("detailed", "0") == "1"


def _paging(request: Request) -> tuple[int | None, str | None]:
    """2.40: ``limit`` and ``marker`` (a server id); before, Nova does not take them."""
    q = request.query_params
    if version_of(request) < (2, 40):
        return None, None
    limit = None
    if "limit" in q:
        try:
            limit = int(q["limit"])
        except ValueError:
            limit = -1
        if limit < 1:
            from overcast.errors import BadRequest

            raise BadRequest(f"Invalid input for query parameters limit. Value: {q['limit']}.")
    return limit, q.get("marker")


def _next(request: Request, path: str, last: str | None, limit: int | None) -> list[dict]:
    if last is None:
        return []
    q = request.query_params
    query = "&".join(f"{k}={q[k]}" for k in ("start", "end", "detailed") if k in q)
    href = f"{base_url(request)}/compute/v2.1/{path}?{query + '&' if query else ''}limit={limit}&marker={last}"
    return [{"rel": "next", "href": href}]


@router.get("/v2.1/os-simple-tenant-usage")
def list_usage(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:simple_tenant_usage:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    start, stop, detailed = _period(request)
    limit, marker = _paging(request)
    found, last = usage_page(runtime.db, start, stop, None, detailed, limit, marker)
    out: dict[str, Any] = {"tenant_usages": found}
    links = _next(request, "os-simple-tenant-usage", last, limit)
    if links:
        out["tenant_usages_links"] = links
    return reply(out)


@router.get("/v2.1/os-simple-tenant-usage/{tenant_id}")
def show_usage(
    tenant_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:simple_tenant_usage:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    if not ctx.can_see(tenant_id):
        raise Forbidden("Policy doesn't allow os_compute_api:os-simple-tenant-usage:show to be performed.")
    start, stop, _ = _period(request)
    limit, marker = _paging(request)
    found, last = usage_page(runtime.db, start, stop, tenant_id, True, limit, marker)
    out: dict[str, Any] = {"tenant_usage": found[0] if found else {}}
    links = _next(request, f"os-simple-tenant-usage/{tenant_id}", last, limit)
    if links:
        out["tenant_usage_links"] = links
    return reply(out)
