"""``GET /servers/{server_id}/diagnostics`` (admin): the running guest as its hypervisor
measures it, per microversion (2.48 changed the format). The logic is
:mod:`overcast.compute.diagnostics`."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from overcast.api.compute.common import reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute import diagnostics
from overcast.context import RequestContext

router = ResourceRouter(route_class=MicroversionRoute)


@router.get("/v2.1/servers/{server_id}/diagnostics")
async def server_diagnostics(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_diagnostics:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    diag, rec = await run_in_threadpool(diagnostics.read, runtime, ctx, server_id)
    if version_of(request) >= (2, 48):
        return reply(diagnostics.view(diag, rec))
    return reply(diagnostics.legacy_view(diag))
