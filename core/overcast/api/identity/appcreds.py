"""``/v3/users/{user_id}/application_credentials``: a user's own credentials only; any
other user's answer 404 (an admin may list, show and delete them, but not create)."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.identity import body as b
from overcast.api.identity import render
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.db.models.identity import ApplicationCredential, Role, User
from overcast.errors import BadRequest, Forbidden
from overcast.identity.directory import not_found
from overcast.runtime import Runtime

router = ResourceRouter()

BASE = "/v3/users/{user_id}/application_credentials"


def _owner(runtime: Runtime, ctx: RequestContext, user_id: str) -> None:
    if not ctx.is_admin and user_id != ctx.user_id:
        raise not_found("user", user_id)
    runtime.identity.directory.get(User, user_id)


def _render(
    request: Request, runtime: Runtime, cred: ApplicationCredential, secret: str | None = None
) -> dict[str, Any]:
    roles = runtime.identity.directory.list(Role, ids=set(cred.role_ids))
    return render.app_credential(request, cred, roles, secret)


def _requested_roles(runtime: Runtime, ctx: RequestContext, refs: Any) -> list[str]:
    """Role ids for the credential: those asked for (each must be one the token holds),
    or all the token's roles."""
    all_roles = {r.name: r for r in runtime.identity.directory.list(Role)}
    held = {all_roles[n].id: all_roles[n] for n in ctx.roles if n in all_roles}
    if not refs:  # absent, null or [] (what the CLI sends without --role)
        return sorted(held)
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        raise b.invalid("roles", "a list of objects with 'id' or 'name' is required.")
    out = []
    for ref in refs:
        role = None
        if isinstance(ref.get("id"), str):
            role = next((r for r in held.values() if r.id == ref["id"]), None)
        elif isinstance(ref.get("name"), str):
            role = next((r for r in held.values() if r.name == ref["name"]), None)
        else:
            raise b.invalid("roles", "each role needs an 'id' or a 'name'.")
        if role is None:
            raise Forbidden(f"The token does not hold role {ref.get('id') or ref.get('name')} on this project.")
        out.append(role.id)
    return out


@router.get(BASE)
def list_credentials(
    request: Request,
    user_id: str,
    name: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:application_credentials:list")),
) -> Response:
    _owner(runtime, ctx, user_id)
    creds = runtime.identity.appcreds.list(user_id, name=name)
    return render.collection(request, "application_credentials", [_render(request, runtime, c) for c in creds])


@router.post(BASE)
def create_credential(
    request: Request,
    user_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:application_credentials:create")),
) -> Response:
    _owner(runtime, ctx, user_id)
    if user_id != ctx.user_id:
        raise Forbidden("Application credentials can only be created by their owner.")
    if ctx.application_credential_id:
        parent = runtime.identity.appcreds.lookup(ctx.application_credential_id)
        if parent is None or not parent.unrestricted:
            raise Forbidden("A restricted application credential cannot create application credentials.")
    obj = b.entity(body, "application_credential")
    name = b.string(obj, "name", required=True)
    if obj.get("access_rules"):
        raise BadRequest("Access rules are not supported.")
    unrestricted = b.boolean(obj, "unrestricted") or False
    cred, secret = runtime.identity.appcreds.create(
        user_id,
        ctx.project_id or "",
        name or "",
        _requested_roles(runtime, ctx, obj.get("roles")),
        secret=b.string(obj, "secret", max_len=4096),
        description=b.string(obj, "description", max_len=65535) or "",
        expires_at=obj.get("expires_at"),
        unrestricted=unrestricted,
    )
    return render.json_response({"application_credential": _render(request, runtime, cred, secret)}, 201)


@router.get(BASE + "/{cred_id}")
def show_credential(
    request: Request,
    user_id: str,
    cred_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:application_credentials:show")),
) -> Response:
    _owner(runtime, ctx, user_id)
    cred = runtime.identity.appcreds.get(user_id, cred_id)
    return render.json_response({"application_credential": _render(request, runtime, cred)})


@router.delete(BASE + "/{cred_id}")
def delete_credential(
    user_id: str,
    cred_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:application_credentials:delete")),
) -> Response:
    _owner(runtime, ctx, user_id)
    runtime.identity.appcreds.delete(user_id, cred_id)
    return render.empty_response(204)
