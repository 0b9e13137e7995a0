"""``/v3/groups`` and their members. A non-admin sees only the groups it belongs to."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.identity import body as b
from overcast.api.identity import render
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.db.models.identity import Group
from overcast.identity.directory import not_found
from overcast.runtime import Runtime

router = ResourceRouter()

_FIELDS = {"name": "name", "description": "str"}


def visible_group(runtime: Runtime, ctx: RequestContext, group_id: str) -> Group:
    group = runtime.identity.directory.get(Group, group_id)
    if not ctx.is_admin and group_id not in {g.id for g in runtime.identity.directory.user_groups(ctx.user_id)}:
        raise not_found("group", group_id)
    return group


@router.get("/v3/groups")
def list_groups(
    request: Request,
    name: str | None = None,
    domain_id: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:groups:list")),
) -> Response:
    ids = None if ctx.is_admin else {g.id for g in runtime.identity.directory.user_groups(ctx.user_id)}
    groups = runtime.identity.directory.list(Group, {"name": name, "domain_id": domain_id}, ids)
    return render.collection(request, "groups", [render.group(request, g) for g in groups])


@router.post("/v3/groups")
def create_group(
    request: Request,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:groups:create")),
) -> Response:
    obj = b.entity(body, "group")
    values = b.changes(obj, _FIELDS)
    if "name" not in values:
        raise b.invalid("name", "'name' is a required property.")
    group = runtime.identity.directory.create_group(
        values["name"], b.string(obj, "domain_id"), values.get("description") or ""
    )
    return render.json_response({"group": render.group(request, group)}, 201)


@router.get("/v3/groups/{group_id}")
def show_group(
    request: Request,
    group_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:groups:show")),
) -> Response:
    return render.json_response({"group": render.group(request, visible_group(runtime, ctx, group_id))})


@router.patch("/v3/groups/{group_id}")
def update_group(
    request: Request,
    group_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:groups:update")),
) -> Response:
    group = runtime.identity.directory.update_group(group_id, b.changes(b.entity(body, "group"), _FIELDS))
    return render.json_response({"group": render.group(request, group)})


@router.delete("/v3/groups/{group_id}")
def delete_group(
    group_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:groups:delete")),
) -> Response:
    runtime.identity.directory.delete_group(group_id)
    return render.empty_response(204)


@router.get("/v3/groups/{group_id}/users")
def group_users(
    request: Request,
    group_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:groups:list_users")),
) -> Response:
    visible_group(runtime, ctx, group_id)
    users = runtime.identity.directory.group_members(group_id)
    if not ctx.is_admin:
        users = [u for u in users if u.id == ctx.user_id]
    return render.collection(request, "users", [render.user(request, u) for u in users])


@router.put("/v3/groups/{group_id}/users/{user_id}")
def add_user(
    group_id: str,
    user_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:groups:add_user")),
) -> Response:
    runtime.identity.directory.add_group_member(group_id, user_id)
    return render.empty_response(204)


@router.api_route("/v3/groups/{group_id}/users/{user_id}", methods=["GET", "HEAD"])
def check_user(
    group_id: str,
    user_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:groups:show")),
) -> Response:
    visible_group(runtime, ctx, group_id)
    if not ctx.is_admin and user_id != ctx.user_id:
        raise not_found("user", user_id)
    if not runtime.identity.directory.is_group_member(group_id, user_id):
        raise not_found("user", f"{user_id} in group {group_id}")
    return render.empty_response(204)


@router.delete("/v3/groups/{group_id}/users/{user_id}")
def remove_user(
    group_id: str,
    user_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:groups:remove_user")),
) -> Response:
    runtime.identity.directory.remove_group_member(group_id, user_id)
    return render.empty_response(204)
