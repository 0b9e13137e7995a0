"""Image members: ``/v2/images/{id}/members[/{member_id}]``."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from overcast.api.deps import authorize, get_runtime
from overcast.api.image.common import json_body, json_response, no_content
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.errors import BadRequest
from overcast.runtime import Runtime

router = ResourceRouter(prefix="/v2/images/{image_id}/members")


async def _field(request: Request, name: str) -> object:
    body = await json_body(request)
    if not isinstance(body, dict) or name not in body:
        raise BadRequest(f"Request body must be a JSON object with '{name}'.")
    return body[name]


@router.get("")
def list_members(
    image_id: str,
    ctx: RequestContext = Depends(authorize("image:members:list")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    return json_response({"members": runtime.image.list_members(ctx, image_id), "schema": "/v2/schemas/members"})


@router.post("")
async def add_member(
    image_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("image:members:create")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    member = await _field(request, "member")
    return json_response(await run_in_threadpool(runtime.image.add_member, ctx, image_id, member))


@router.get("/{member_id}")
def show_member(
    image_id: str,
    member_id: str,
    ctx: RequestContext = Depends(authorize("image:members:show")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    return json_response(runtime.image.show_member(ctx, image_id, member_id))


@router.put("/{member_id}")
async def update_member(
    image_id: str,
    member_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("image:members:update")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    status = await _field(request, "status")
    return json_response(await run_in_threadpool(runtime.image.update_member, ctx, image_id, member_id, status))


@router.delete("/{member_id}")
def delete_member(
    image_id: str,
    member_id: str,
    ctx: RequestContext = Depends(authorize("image:members:delete")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.image.remove_member(ctx, image_id, member_id)
    return no_content()
