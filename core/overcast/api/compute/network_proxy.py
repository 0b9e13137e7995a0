"""Nova's network proxy APIs, served until microversion 2.35 (2.36 removed them: 404 from
then on, as Nova answers): ``os-security-groups``, ``os-security-group-rules``,
``os-floating-ips``, ``os-floating-ip-pools`` and ``os-tenant-networks``. The translation to
the network service is :mod:`overcast.compute.network_proxy`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from overcast.api.compute.common import json_body, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute import network_proxy as proxy
from overcast.context import RequestContext
from overcast.errors import Gone, NotFound

router = ResourceRouter(route_class=MicroversionRoute)

REMOVED_IN = (2, 36)


def _served(request: Request) -> None:
    if version_of(request) >= REMOVED_IN:
        raise NotFound("The resource could not be found.")


async def _call(request: Request, fn: Callable[..., Any], *args: Any) -> Any:
    _served(request)
    return await run_in_threadpool(fn, *args)


# --- security groups and rules -----------------------------------------------------------------


@router.get("/v2.1/os-security-groups")
async def list_security_groups(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:security_groups:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    all_tenants = request.query_params.get("all_tenants", "0") not in ("0", "false", "False")
    groups = await _call(request, proxy.list_groups, runtime, ctx, all_tenants)
    return reply({"security_groups": groups})


@router.post("/v2.1/os-security-groups")
async def create_security_group(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:security_groups:create")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    _served(request)
    body = await json_body(request)
    return reply({"security_group": await _call(request, proxy.create_group, runtime, ctx, body)})


@router.get("/v2.1/os-security-groups/{group_id}")
async def show_security_group(
    group_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:security_groups:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"security_group": await _call(request, proxy.get_group, runtime, ctx, group_id)})


@router.put("/v2.1/os-security-groups/{group_id}")
async def update_security_group(
    group_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:security_groups:update")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    _served(request)
    body = await json_body(request)
    return reply({"security_group": await _call(request, proxy.update_group, runtime, ctx, group_id, body)})


@router.delete("/v2.1/os-security-groups/{group_id}")
async def delete_security_group(
    group_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:security_groups:delete")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    await _call(request, proxy.delete_group, runtime, ctx, group_id)
    return reply(status=202)


@router.post("/v2.1/os-security-group-rules")
async def create_security_group_rule(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:security_group_rules:create")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    _served(request)
    body = await json_body(request)
    return reply({"security_group_rule": await _call(request, proxy.create_rule, runtime, ctx, body)})


@router.delete("/v2.1/os-security-group-rules/{rule_id}")
async def delete_security_group_rule(
    rule_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:security_group_rules:delete")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    await _call(request, proxy.delete_rule, runtime, ctx, rule_id)
    return reply(status=202)


# --- floating IPs ------------------------------------------------------------------------------


@router.get("/v2.1/os-floating-ips")
async def list_floating_ips(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:floating_ips:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"floating_ips": await _call(request, proxy.list_floating_ips, runtime, ctx)})


@router.post("/v2.1/os-floating-ips")
async def allocate_floating_ip(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:floating_ips:create")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    _served(request)
    raw = await request.body()
    body = await json_body(request) if raw.strip() else {}
    return reply({"floating_ip": await _call(request, proxy.allocate_floating_ip, runtime, ctx, body)})


@router.get("/v2.1/os-floating-ips/{fip_id}")
async def show_floating_ip(
    fip_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:floating_ips:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"floating_ip": await _call(request, proxy.get_floating_ip, runtime, ctx, fip_id)})


@router.delete("/v2.1/os-floating-ips/{fip_id}")
async def release_floating_ip(
    fip_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:floating_ips:delete")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    await _call(request, proxy.release_floating_ip, runtime, ctx, fip_id)
    return reply(status=202)


@router.get("/v2.1/os-floating-ip-pools")
async def list_floating_ip_pools(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:floating_ip_pools:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"floating_ip_pools": await _call(request, proxy.pools, runtime, ctx)})


# --- tenant networks ---------------------------------------------------------------------------


@router.get("/v2.1/os-tenant-networks")
async def list_tenant_networks(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:tenant_networks:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"networks": await _call(request, proxy.list_tenant_networks, runtime, ctx)})


@router.get("/v2.1/os-tenant-networks/{network_id}")
async def show_tenant_network(
    network_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:tenant_networks:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"network": await _call(request, proxy.get_tenant_network, runtime, ctx, network_id)})


# --- os-networks: reads from the network service; nova-network's writes are gone (410) ---------


@router.get("/v2.1/os-networks")
async def list_networks(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:networks:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"networks": await _call(request, proxy.list_networks, runtime, ctx)})


@router.get("/v2.1/os-networks/{network_id}")
async def show_network(
    network_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:networks:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"network": await _call(request, proxy.get_network, runtime, ctx, network_id)})


@router.post("/v2.1/os-networks")
@router.post("/v2.1/os-networks/add")
@router.post("/v2.1/os-networks/{network_id}/action")
@router.delete("/v2.1/os-networks/{network_id}")
async def nova_network_gone(request: Request, ctx: RequestContext = Depends(authorize("compute:networks:show"))) -> Any:
    """Creating, adding, disassociating and deleting networks were nova-network's: 410."""
    _served(request)
    raise Gone("This resource is no longer available.  No forwarding address is given.")
