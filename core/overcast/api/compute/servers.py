"""``/servers``: create, list, detail, show, update, delete, addresses and topology.

Their actions are in :mod:`.server_actions`, volume attachments in :mod:`.volume_attachments`,
tags in :mod:`.server_tags`."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from overcast.api.compute.common import base_url, json_body, query_params, reply, wrapped
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.compute.server_requests import check_create, check_list
from overcast.api.compute.views import (
    plain_addresses,
    server_summary,
    server_view,
)
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.errors import BadRequest

#: where clients put scheduler hints: the openstack CLI and openstacksdk send the second
HINT_KEYS = ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")

router = ResourceRouter(route_class=MicroversionRoute)


def render_servers(
    request: Request,
    ctx: RequestContext,
    runtime: Any,
    recs: list,
    full: bool = True,
    one: bool = False,
    rebuild: bool = False,
) -> list[dict]:
    """Server views (see :func:`server_view` for ``full``); ``one``: the view of a single
    server (show, update, rebuild), which from 2.71 names its server groups."""
    compute = runtime.compute
    faults = compute.faults([r.uuid for r in recs if r.vm_state in ("error", "deleted")])
    from sqlalchemy import select

    from overcast.db.models.compute import BlockDeviceMapping

    volumes: dict[str, list] = {}
    if recs:
        with runtime.db.session() as s:
            stmt = select(BlockDeviceMapping).where(BlockDeviceMapping.instance_uuid.in_([r.uuid for r in recs]))
            for bdm in s.scalars(stmt):
                volumes.setdefault(bdm.instance_uuid, []).append(bdm)
    from overcast.compute.peers import instance_addresses, instance_security_groups

    version = version_of(request)
    tags: dict[str, list[str]] = {}
    if version >= (2, 26) and recs:
        with runtime.db.session() as s:
            tags = compute.tags.of(s, [r.uuid for r in recs])
    statuses: dict[str, str] = {}
    if version >= (2, 16) and ctx.is_admin:
        statuses = compute.hosts.statuses({r.host for r in recs if r.host})
    security_groups = instance_security_groups(runtime, [r.uuid for r in recs]) if full else {}
    out = []
    for r in recs:
        groups = ([r.server_group_id] if r.server_group_id else []) if one else None
        view = server_view(
            request,
            ctx,
            version,
            r,
            faults.get(r.uuid),
            volumes.get(r.uuid),
            statuses.get(r.host),
            full,
            groups,
            rebuild,
            security_groups.get(r.uuid),
        )
        if version >= (2, 26):
            view["tags"] = tags.get(r.uuid, [])
        if r.addresses and not r.deleted:  # the network service has the current truth (floating IPs...)
            view["addresses"] = instance_addresses(runtime, r.uuid) or view["addresses"]
        if not full:
            view["addresses"] = plain_addresses(view["addresses"])
        out.append(view)
    return out


def _links(request: Request, recs: list, params: dict, detail: bool) -> list[dict]:
    if not recs or "limit" not in params or len(recs) < int(params["limit"]):
        return []
    path = "servers/detail" if detail else "servers"
    return [
        {
            "rel": "next",
            "href": f"{base_url(request)}/compute/v2.1/{path}?limit={params['limit']}&marker={recs[-1].uuid}",
        }
    ]


@router.post("/v2.1/servers")
async def create_server(
    request: Request, ctx: RequestContext = Depends(authorize("compute:servers:create")), runtime=Depends(get_runtime)
):
    outer = await json_body(request)
    body = wrapped(outer, "server")
    version = version_of(request)
    for key in HINT_KEYS:
        if key in body:  # Nova's schema: hints sit beside "server", not in it
            raise BadRequest(
                f"Invalid input for field/attribute server. Additional properties are not allowed ('{key}' was unexpected)"
            )
    check_create(body, version)
    hints = next((outer[key] for key in HINT_KEYS if key in outer), None)  # as Nova: os: first
    if hints is not None:
        body = {**body, "os:scheduler_hints": hints}
    if version >= (2, 37) and "networks" not in body:
        raise BadRequest("Invalid input for field/attribute server: 'networks' is a required property")
    from starlette.concurrency import run_in_threadpool

    from overcast.compute.server_fields import admin_password

    password = admin_password(body)
    wants_reservation = _boolean(body.get("return_reservation_id", False), "return_reservation_id")
    rec = await run_in_threadpool(runtime.compute.create_server, ctx, body)
    if wants_reservation:  # Nova's multiple create: the request's reservation id instead of a server
        return reply({"reservation_id": rec.reservation_id}, 202)
    out = {
        "server": {
            "id": rec.uuid,
            "links": server_summary(request, rec)["links"],
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": "default"}],
            "adminPass": password,
        }
    }
    return reply(out, 202, {"Location": f"{base_url(request)}/compute/v2.1/servers/{rec.uuid}"})


_TRUE = ("true", "1", "on", "yes")
_FALSE = ("false", "0", "off", "no")


def _boolean(value: object, name: str) -> bool:
    """Nova's ``parameter_types.boolean``: a JSON boolean or one of its strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value}. {value!r} is not of type 'boolean'")


@router.get("/v2.1/servers")
def list_servers(
    request: Request, ctx: RequestContext = Depends(authorize("compute:servers:list")), runtime=Depends(get_runtime)
):
    params = check_list(query_params(request), version_of(request))
    recs = runtime.compute.list_servers(ctx, params)
    out: dict[str, Any] = {"servers": [server_summary(request, r) for r in recs]}
    nxt = _links(request, recs, params, detail=False)
    if nxt:
        out["servers_links"] = nxt
    return reply(out)


@router.get("/v2.1/servers/detail")
def list_servers_detail(
    request: Request, ctx: RequestContext = Depends(authorize("compute:servers:detail")), runtime=Depends(get_runtime)
):
    params = check_list(query_params(request), version_of(request))
    recs = runtime.compute.list_servers(ctx, params)
    out: dict[str, Any] = {"servers": render_servers(request, ctx, runtime, recs)}
    nxt = _links(request, recs, params, detail=True)
    if nxt:
        out["servers_links"] = nxt
    return reply(out)


@router.get("/v2.1/servers/{server_id}")
def show_server(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:servers:show")),
    runtime=Depends(get_runtime),
):
    rec = runtime.compute.get_server(ctx, server_id)
    return reply({"server": render_servers(request, ctx, runtime, [rec], one=True)[0]})


@router.put("/v2.1/servers/{server_id}")
async def update_server(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:servers:update")),
    runtime=Depends(get_runtime),
):
    body = wrapped(await json_body(request), "server")
    if "description" in body and version_of(request) < (2, 19):
        raise BadRequest("Additional properties are not allowed ('description' was unexpected)")
    rec = runtime.compute.update_server(ctx, server_id, body)
    # Nova shows every attribute in this response only from 2.75
    return reply(
        {"server": render_servers(request, ctx, runtime, [rec], full=version_of(request) >= (2, 75), one=True)[0]}
    )


@router.get("/v2.1/servers/{server_id}/ips")
def list_ips(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:ips:list")),
    runtime=Depends(get_runtime),
):
    """The server's addresses by network (Nova's ``ips``: plain version and address)."""
    rec = runtime.compute.get_server(ctx, server_id)
    return reply({"addresses": plain_addresses(render_servers(request, ctx, runtime, [rec])[0]["addresses"])})


@router.get("/v2.1/servers/{server_id}/ips/{network_label}")
def show_ips(
    server_id: str,
    network_label: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:ips:show")),
    runtime=Depends(get_runtime),
):
    rec = runtime.compute.get_server(ctx, server_id)
    addresses = plain_addresses(render_servers(request, ctx, runtime, [rec])[0]["addresses"])
    if network_label not in addresses:
        from overcast.errors import NotFound

        raise NotFound("Instance is not a member of specified network")
    return reply({network_label: addresses[network_label]})


@router.delete("/v2.1/servers/{server_id}")
def delete_server(
    server_id: str, ctx: RequestContext = Depends(authorize("compute:servers:delete")), runtime=Depends(get_runtime)
):
    runtime.compute.delete_server(ctx, server_id)
    return reply(None, 204)


# --- topology (2.78) ----------------------------------------------------------------------------


@router.get("/v2.1/servers/{server_id}/topology")
def show_topology(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:servers:show")),
    runtime=Depends(get_runtime),
):
    """The server's NUMA topology (2.78): guests here are made without one, which Nova shows
    as no nodes."""
    if version_of(request) < (2, 78):
        from overcast.errors import NotFound

        raise NotFound("The resource could not be found.")
    runtime.compute.get_server(ctx, server_id)
    return reply({"nodes": [], "pagesize_kb": None})
