"""``/v3/users``: CRUD (admin), a user's own password, projects and groups. A non-admin
sees only their own user; any other user answers 404."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.identity import body as b
from overcast.api.identity import render
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.db.models.identity import User
from overcast.errors import Unauthorized
from overcast.identity.directory import not_found
from overcast.identity.passwords import MAX_PASSWORD_BYTES
from overcast.runtime import Runtime

router = ResourceRouter()

_FIELDS = {"name": "name", "description": "str", "enabled": "bool", "default_project_id": "str"}
_RESERVED = {"id", "links", "options", "password_expires_at", "domain_id", "password"} | set(_FIELDS)


def visible_user(runtime: Runtime, ctx: RequestContext, user_id: str) -> User:
    if not ctx.is_admin and user_id != ctx.user_id:
        raise not_found("user", user_id)
    return runtime.identity.directory.get(User, user_id)


def _password(obj: dict[str, Any], field: str = "password", required: bool = False) -> str | None:
    value = b.string(obj, field, required=required, max_len=MAX_PASSWORD_BYTES)
    return value


def _extra(obj: dict[str, Any]) -> dict[str, Any]:
    extra = {k: v for k, v in obj.items() if k not in _RESERVED}
    for key, value in extra.items():
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            raise b.invalid(key, "extra user attributes must be strings, numbers or booleans.")
    return extra


@router.get("/v3/users")
def list_users(
    request: Request,
    name: str | None = None,
    domain_id: str | None = None,
    enabled: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:users:list")),
) -> Response:
    filters = {"name": name, "domain_id": domain_id, "enabled": b.query_bool(enabled, "enabled")}
    ids = None if ctx.is_admin else {ctx.user_id}
    users = runtime.identity.directory.list(User, filters, ids)
    return render.collection(request, "users", [render.user(request, u) for u in users])


@router.post("/v3/users")
def create_user(
    request: Request,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:users:create")),
) -> Response:
    obj = b.entity(body, "user")
    values = b.changes(obj, _FIELDS)
    if "name" not in values:
        raise b.invalid("name", "'name' is a required property.")
    user = runtime.identity.directory.create_user(
        values["name"],
        password=_password(obj),
        domain_id=b.string(obj, "domain_id"),
        enabled=values.get("enabled") is not False,
        default_project_id=values.get("default_project_id"),
        description=values.get("description") or "",
        extra=_extra(obj),
    )
    return render.json_response({"user": render.user(request, user)}, 201)


@router.get("/v3/users/{user_id}")
def show_user(
    request: Request,
    user_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:users:show")),
) -> Response:
    return render.json_response({"user": render.user(request, visible_user(runtime, ctx, user_id))})


@router.patch("/v3/users/{user_id}")
def update_user(
    request: Request,
    user_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:users:update")),
) -> Response:
    obj = b.entity(body, "user")
    values = b.changes(obj, _FIELDS)
    if values.get("enabled") is None:
        values.pop("enabled", None)
    if "password" in obj:
        values["password"] = _password(obj, required=True)
    values.update(_extra(obj))
    user = runtime.identity.directory.update_user(user_id, values)
    return render.json_response({"user": render.user(request, user)})


@router.delete("/v3/users/{user_id}")
def delete_user(
    user_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:users:delete")),
) -> Response:
    runtime.identity.directory.delete_user(user_id)
    return render.empty_response(204)


@router.post("/v3/users/{user_id}/password")
def change_password(
    request: Request,
    user_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:users:change_password")),
) -> Response:
    """A user's password changes for whoever proves the original one (as in Keystone, where
    this call needs no other authorization); every token of the user is revoked."""
    obj = b.entity(body, "user")
    original = _password(obj, "original_password", required=True)
    new = _password(obj, "password", required=True)
    user = runtime.identity.directory.get(User, user_id)
    source = request.client.host if request.client else None
    throttle = runtime.identity.throttle  # guessing the original password counts as a failed login
    throttle.check(user_id, user_id, source)
    if not runtime.identity.passwords.verify(user.password_hash, original or ""):
        throttle.failed(user_id, source)
        raise Unauthorized("The original password is not correct.")
    throttle.succeeded(user_id)
    runtime.identity.directory.update_user(user_id, {"password": new})
    return render.empty_response(204)


@router.get("/v3/users/{user_id}/projects")
def user_projects(
    request: Request,
    user_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:user_projects:list")),
) -> Response:
    visible_user(runtime, ctx, user_id)
    projects = runtime.identity.assignments.projects_of_user(user_id)
    return render.collection(request, "projects", [render.project(request, p) for p in projects])


@router.get("/v3/users/{user_id}/groups")
def user_groups(
    request: Request,
    user_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:user_projects:list")),
) -> Response:
    visible_user(runtime, ctx, user_id)
    groups = runtime.identity.directory.user_groups(user_id)
    return render.collection(request, "groups", [render.group(request, g) for g in groups])
