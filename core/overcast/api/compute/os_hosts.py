"""``os-hosts``: Nova's deprecated host API, served before microversion 2.43 (404 from then
on, as Nova answers); admin only. The logic is :mod:`overcast.compute.os_hosts`."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from overcast.api.compute.common import json_body, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute import os_hosts
from overcast.context import RequestContext
from overcast.errors import NotFound

router = ResourceRouter(route_class=MicroversionRoute)

REMOVED_IN = (2, 43)


def _served(request: Request) -> None:
    if version_of(request) >= REMOVED_IN:
        raise NotFound("The resource could not be found.")


@router.get("/v2.1/os-hosts")
async def list_hosts(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:hosts:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    _served(request)
    hosts = await run_in_threadpool(os_hosts.list_hosts, runtime, request.query_params.get("zone"))
    return reply({"hosts": hosts})


@router.get("/v2.1/os-hosts/{host_name}")
async def show_host(
    host_name: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:hosts:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    _served(request)
    return reply({"host": await run_in_threadpool(os_hosts.show_host, runtime, host_name)})


@router.put("/v2.1/os-hosts/{host_name}")
async def update_host(
    host_name: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:hosts:update")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    _served(request)
    body = await json_body(request)
    return reply(await run_in_threadpool(os_hosts.update_host, runtime, host_name, body))


@router.get("/v2.1/os-hosts/{host_name}/{action}")
async def host_power_action(
    host_name: str,
    action: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:hosts:power_action")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    _served(request)
    if action not in os_hosts.POWER_ACTIONS:
        raise NotFound("The resource could not be found.")
    return reply(await run_in_threadpool(os_hosts.power_action, runtime, host_name, action))
