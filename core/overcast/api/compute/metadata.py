"""``/servers/{id}/metadata``: a server's metadata as a whole (``GET``, ``POST`` merges,
``PUT`` replaces) and item by item (``/metadata/{key}``)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from overcast.api.compute.common import json_body, reply
from overcast.api.compute.microversion import MicroversionRoute
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.errors import BadRequest, NotFound

router = ResourceRouter(route_class=MicroversionRoute)


def _body(raw: Any, key: str) -> dict:
    if not isinstance(raw, dict) or set(raw) != {key} or not isinstance(raw[key], dict):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {raw}. '{key}' is a required property")
    return raw[key]


@router.get("/v2.1/servers/{server_id}/metadata")
def list_metadata(
    server_id: str,
    ctx: RequestContext = Depends(authorize("compute:server_metadata:list")),
    runtime=Depends(get_runtime),
):
    return reply({"metadata": runtime.compute.servers.metadata(ctx, server_id)})


@router.post("/v2.1/servers/{server_id}/metadata")
async def update_metadata(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_metadata:update")),
    runtime=Depends(get_runtime),
):
    items = _body(await json_body(request), "metadata")
    return reply({"metadata": runtime.compute.servers.set_metadata(ctx, server_id, items, replace=False)})


@router.put("/v2.1/servers/{server_id}/metadata")
async def replace_metadata(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_metadata:update_all")),
    runtime=Depends(get_runtime),
):
    items = _body(await json_body(request), "metadata")
    return reply({"metadata": runtime.compute.servers.set_metadata(ctx, server_id, items, replace=True)})


@router.get("/v2.1/servers/{server_id}/metadata/{key}")
def show_item(
    server_id: str,
    key: str,
    ctx: RequestContext = Depends(authorize("compute:server_metadata:show")),
    runtime=Depends(get_runtime),
):
    meta = runtime.compute.servers.metadata(ctx, server_id)
    if key not in meta:
        raise NotFound("Metadata item was not found")
    return reply({"meta": {key: meta[key]}})


@router.put("/v2.1/servers/{server_id}/metadata/{key}")
async def set_item(
    server_id: str,
    key: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_metadata:create")),
    runtime=Depends(get_runtime),
):
    item = _body(await json_body(request), "meta")
    if len(item) > 1:
        raise BadRequest("Request body contains too many items")
    if key not in item:
        raise BadRequest("Request body and URI mismatch")
    runtime.compute.servers.set_metadata(ctx, server_id, item, replace=False)
    return reply({"meta": item})


@router.delete("/v2.1/servers/{server_id}/metadata/{key}")
def delete_item(
    server_id: str,
    key: str,
    ctx: RequestContext = Depends(authorize("compute:server_metadata:delete")),
    runtime=Depends(get_runtime),
):
    runtime.compute.servers.delete_metadata_item(ctx, server_id, key)
    return reply(None, 204)
