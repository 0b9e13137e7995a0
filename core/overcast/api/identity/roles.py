"""``/v3/roles``, grants on projects (``/v3/projects/{p}/users|groups/{a}/roles/{r}``) and
``/v3/role_assignments``. A non-admin sees only the assignments on its token's project."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.identity import body as b
from overcast.api.identity import render
from overcast.context import RequestContext
from overcast.db.models.identity import Group, Project, Role, User
from overcast.identity.directory import not_found
from overcast.runtime import Runtime

router = APIRouter()

_FIELDS = {"name": "name", "description": "str"}
_ACTORS = {"users": "user", "groups": "group"}


@router.get("/v3/roles")
def list_roles(
    request: Request,
    name: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:roles:list")),
) -> Response:
    roles = runtime.identity.directory.list(Role, {"name": name})
    return render.collection(request, "roles", [render.role(request, r) for r in roles])


@router.post("/v3/roles")
def create_role(
    request: Request,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:roles:create")),
) -> Response:
    values = b.changes(b.entity(body, "role"), _FIELDS)
    if "name" not in values:
        raise b.invalid("name", "'name' is a required property.")
    role = runtime.identity.directory.create_role(values["name"], values.get("description") or "")
    return render.json_response({"role": render.role(request, role)}, 201)


@router.get("/v3/roles/{role_id}")
def show_role(
    request: Request,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:roles:show")),
) -> Response:
    return render.json_response({"role": render.role(request, runtime.identity.directory.get(Role, role_id))})


@router.patch("/v3/roles/{role_id}")
def update_role(
    request: Request,
    role_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:roles:update")),
) -> Response:
    role = runtime.identity.directory.update_role(role_id, b.changes(b.entity(body, "role"), _FIELDS))
    return render.json_response({"role": render.role(request, role)})


@router.delete("/v3/roles/{role_id}")
def delete_role(
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:roles:delete")),
) -> Response:
    runtime.identity.directory.delete_role(role_id)
    return render.empty_response(204)


# --- grants ------------------------------------------------------------------------------


def _actor(kind: str) -> str:
    actor = _ACTORS.get(kind)
    if actor is None:
        raise not_found("resource", kind)
    return actor


def _visible_grant(ctx: RequestContext, project_id: str, actor: str, actor_id: str) -> None:
    """A non-admin may look at its own roles on its own project, nothing else."""
    if ctx.is_admin:
        return
    if project_id != ctx.project_id:
        raise not_found("project", project_id)
    if actor != "user" or actor_id != ctx.user_id:
        raise not_found(actor, actor_id)


@router.get("/v3/projects/{project_id}/{kind}/{actor_id}/roles")
def list_grants(
    request: Request,
    project_id: str,
    kind: str,
    actor_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:grants:list")),
) -> Response:
    actor = _actor(kind)
    _visible_grant(ctx, project_id, actor, actor_id)
    roles = runtime.identity.assignments.direct_roles(actor, actor_id, project_id)
    return render.collection(request, "roles", [render.role(request, r) for r in roles])


@router.put("/v3/projects/{project_id}/{kind}/{actor_id}/roles/{role_id}")
def grant(
    project_id: str,
    kind: str,
    actor_id: str,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:grants:create")),
) -> Response:
    runtime.identity.assignments.grant(_actor(kind), actor_id, project_id, role_id)
    return render.empty_response(204)


@router.api_route("/v3/projects/{project_id}/{kind}/{actor_id}/roles/{role_id}", methods=["GET", "HEAD"])
def check_grant(
    project_id: str,
    kind: str,
    actor_id: str,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:grants:show")),
) -> Response:
    actor = _actor(kind)
    _visible_grant(ctx, project_id, actor, actor_id)
    if not runtime.identity.assignments.exists(actor, actor_id, project_id, role_id):
        raise not_found("role assignment", f"{role_id} for {actor} {actor_id} on project {project_id}")
    return render.empty_response(204)


@router.delete("/v3/projects/{project_id}/{kind}/{actor_id}/roles/{role_id}")
def revoke(
    project_id: str,
    kind: str,
    actor_id: str,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:grants:delete")),
) -> Response:
    runtime.identity.assignments.revoke(_actor(kind), actor_id, project_id, role_id)
    return render.empty_response(204)


# --- role assignments --------------------------------------------------------------------


@router.get("/v3/role_assignments")
def list_role_assignments(
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:role_assignments:list")),
) -> Response:
    q = request.query_params
    for unsupported in ("scope.domain.id", "scope.system", "scope.OS-INHERIT:inherited_to"):
        if unsupported in q:
            return render.collection(request, "role_assignments", [])  # no such assignments exist here
    effective = b.query_bool(q.get("effective"), "effective") if "effective" in q else False
    include_names = b.query_bool(q.get("include_names"), "include_names") if "include_names" in q else False
    project_id = q.get("scope.project.id")
    if not ctx.is_admin:
        if project_id is not None and project_id != ctx.project_id:
            return render.collection(request, "role_assignments", [])
        project_id = ctx.project_id or ""
    found = runtime.identity.assignments.list(
        user_id=q.get("user.id"),
        group_id=q.get("group.id"),
        project_id=project_id,
        role_id=q.get("role.id"),
        effective=bool(effective),
    )
    names = _names(runtime, found) if include_names else None
    return render.collection(request, "role_assignments", [render.assignment(request, a, names) for a in found])


def _names(runtime: Runtime, found: list[Any]) -> dict[str, Any]:
    directory = runtime.identity.directory
    wanted: dict[type[Any], set[str]] = {Role: set(), Project: set(), User: set(), Group: set()}
    for a in found:
        wanted[Role].add(a.role_id)
        wanted[Project].add(a.project_id)
        wanted[User if a.actor_type == "user" else Group].add(a.actor_id)
    names: dict[str, Any] = {}
    for model, ids in wanted.items():
        if ids:
            names.update({obj.id: obj for obj in directory.list(model, ids=ids)})
    return names
