"""``os-instance_usage_audit_log`` (admin): the instance usage audit of the last completed
period, now or before a given time. The logic is :mod:`overcast.compute.usage_audit`."""

from __future__ import annotations

from typing import Any

from fastapi import Depends
from starlette.concurrency import run_in_threadpool

from overcast.api.compute.common import reply
from overcast.api.compute.microversion import MicroversionRoute
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute import usage_audit
from overcast.context import RequestContext

router = ResourceRouter(route_class=MicroversionRoute)


@router.get("/v2.1/os-instance_usage_audit_log")
async def list_audit_logs(
    ctx: RequestContext = Depends(authorize("compute:instance_usage_audit_log:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"instance_usage_audit_logs": await run_in_threadpool(usage_audit.audit_log, runtime)})


@router.get("/v2.1/os-instance_usage_audit_log/{before}")
async def show_audit_log(
    before: str,
    ctx: RequestContext = Depends(authorize("compute:instance_usage_audit_log:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    when = usage_audit.parse_before(before)
    return reply({"instance_usage_audit_log": await run_in_threadpool(usage_audit.audit_log, runtime, when)})
