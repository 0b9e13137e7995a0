"""``/os-simple-tenant-usage`` (Nova; issue 18): every project's usage (admin) or one
project's (its own members, or admins), over ``start``..``end``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from overcast.api.compute.common import reply
from overcast.api.compute.microversion import MicroversionRoute
from overcast.api.deps import authorize, get_runtime
from overcast.compute.usage import parse_time, usage
from overcast.context import RequestContext
from overcast.errors import Forbidden

router = APIRouter(route_class=MicroversionRoute)


def _period(request: Request) -> tuple[Any, Any, bool]:
    q = request.query_params
    return parse_time(q.get("start")), parse_time(q.get("end")), q.get("detailed", "0") == "1"


@router.get("/v2.1/os-simple-tenant-usage")
def list_usage(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:simple_tenant_usage:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    start, stop, detailed = _period(request)
    return reply({"tenant_usages": usage(runtime.db, start, stop, None, detailed)})


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
    found = usage(runtime.db, start, stop, tenant_id, detailed=True)
    return reply({"tenant_usage": found[0] if found else {}})
