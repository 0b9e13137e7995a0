"""``/servers/{id}/tags`` (microversion 2.26)."""

from __future__ import annotations

from fastapi import Depends, Request

from overcast.api.compute.common import base_url, json_body, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext

#: where clients put scheduler hints: the openstack CLI and openstacksdk send the second
HINT_KEYS = ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")

router = ResourceRouter(route_class=MicroversionRoute)

# --- tags (2.26) --------------------------------------------------------------------------------


def _tags_served(request: Request) -> None:
    if version_of(request) < (2, 26):
        from overcast.errors import NotFound

        raise NotFound("The resource could not be found.")


@router.get("/v2.1/servers/{server_id}/tags")
def list_tags(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_tags:list")),
    runtime=Depends(get_runtime),
):
    _tags_served(request)
    return reply({"tags": runtime.compute.tags.list(ctx, server_id)})


@router.put("/v2.1/servers/{server_id}/tags")
async def replace_tags(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_tags:update")),
    runtime=Depends(get_runtime),
):
    _tags_served(request)
    body = await json_body(request)
    tags = body.get("tags") if isinstance(body, dict) else None
    return reply({"tags": runtime.compute.tags.replace(ctx, server_id, tags)})


@router.delete("/v2.1/servers/{server_id}/tags")
def delete_tags(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_tags:delete")),
    runtime=Depends(get_runtime),
):
    _tags_served(request)
    runtime.compute.tags.remove(ctx, server_id)
    return reply(None, 204)


@router.get("/v2.1/servers/{server_id}/tags/{tag}")
def check_tag(
    server_id: str,
    tag: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_tags:show")),
    runtime=Depends(get_runtime),
):
    _tags_served(request)
    if not runtime.compute.tags.has(ctx, server_id, tag):
        from overcast.errors import NotFound

        raise NotFound(f"Tag {tag} could not be found on server {server_id}.")
    return reply(None, 204)


@router.put("/v2.1/servers/{server_id}/tags/{tag}")
def add_tag(
    server_id: str,
    tag: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_tags:update")),
    runtime=Depends(get_runtime),
):
    _tags_served(request)
    created = runtime.compute.tags.add(ctx, server_id, tag)
    location = f"{base_url(request)}/compute/v2.1/servers/{server_id}/tags/{tag}"
    return reply(None, 201 if created else 204, {"Location": location})


@router.delete("/v2.1/servers/{server_id}/tags/{tag}")
def delete_tag(
    server_id: str,
    tag: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_tags:delete")),
    runtime=Depends(get_runtime),
):
    _tags_served(request)
    runtime.compute.tags.remove(ctx, server_id, tag)
    return reply(None, 204)
