"""``POST /os-server-external-events`` (admin): events from the network and volume services
about servers. The logic is :mod:`overcast.compute.external_events`."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from overcast.api.compute.common import json_body, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute import external_events
from overcast.context import RequestContext

router = ResourceRouter(route_class=MicroversionRoute)


@router.post("/v2.1/os-server-external-events")
async def create_events(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_external_events:create")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    body = await json_body(request)
    events, status = await run_in_threadpool(external_events.create, runtime, ctx, body, version_of(request))
    return reply({"events": events}, status=status)
