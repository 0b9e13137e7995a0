"""``/v3/roles``, grants on projects (``/v3/projects/{p}/users|groups/{a}/roles/{r}``) and
``/v3/role_assignments``. A non-admin sees only the assignments on its token's project."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.identity import body as b
from overcast.api.identity import render
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.db.models.identity import GLOBAL_ROLE_DOMAIN, Domain, Group, Project, Role, User
from overcast.errors import BadRequest
from overcast.identity.directory import not_found
from overcast.runtime import Runtime

router = ResourceRouter()

_FIELDS = {"name": "name", "description": "str"}
_ACTORS = {"users": "user", "groups": "group"}


@router.get("/v3/roles")
def list_roles(
    request: Request,
    name: str | None = None,
    domain_id: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:roles:list")),
) -> Response:
    """The global roles, or with ``domain_id`` that domain's own roles (as Keystone)."""
    roles = runtime.identity.directory.list(Role, {"name": name, "domain_id": domain_id or GLOBAL_ROLE_DOMAIN})
    return render.collection(request, "roles", [render.role(request, r) for r in roles])


@router.post("/v3/roles")
def create_role(
    request: Request,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:roles:create")),
) -> Response:
    obj = b.entity(body, "role")
    values = b.changes(obj, _FIELDS)
    if "name" not in values:
        raise b.invalid("name", "'name' is a required property.")
    role = runtime.identity.directory.create_role(
        values["name"], values.get("description") or "", domain_id=b.string(obj, "domain_id")
    )
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
    obj = b.entity(body, "role")
    if "domain_id" in obj and (obj["domain_id"] or "") != runtime.identity.directory.get(Role, role_id).domain_id:
        raise BadRequest("Update of `domain_id` is not allowed.")
    role = runtime.identity.directory.update_role(role_id, b.changes(obj, _FIELDS))
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


# --- grants on the system ----------------------------------------------------------------


def _visible_system_grant(ctx: RequestContext, actor: str, actor_id: str) -> None:
    """A non-admin may look at its own system roles, nothing else."""
    if not ctx.is_admin and (actor != "user" or actor_id != ctx.user_id):
        raise not_found(actor, actor_id)


@router.get("/v3/system/{kind}/{actor_id}/roles")
def list_system_grants(
    request: Request,
    kind: str,
    actor_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:system_grants:list")),
) -> Response:
    actor = _actor(kind)
    _visible_system_grant(ctx, actor, actor_id)
    roles = runtime.identity.system_assignments.direct_roles(actor, actor_id)
    return render.collection(request, "roles", [render.role(request, r) for r in roles])


@router.put("/v3/system/{kind}/{actor_id}/roles/{role_id}")
def grant_system(
    kind: str,
    actor_id: str,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:system_grants:create")),
) -> Response:
    runtime.identity.system_assignments.grant(_actor(kind), actor_id, role_id)
    return render.empty_response(204)


@router.api_route("/v3/system/{kind}/{actor_id}/roles/{role_id}", methods=["GET", "HEAD"])
def check_system_grant(
    kind: str,
    actor_id: str,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:system_grants:show")),
) -> Response:
    actor = _actor(kind)
    _visible_system_grant(ctx, actor, actor_id)
    if not runtime.identity.system_assignments.exists(actor, actor_id, role_id):
        raise not_found("role assignment", f"{role_id} for {actor} {actor_id} on the system")
    return render.empty_response(204)


@router.delete("/v3/system/{kind}/{actor_id}/roles/{role_id}")
def revoke_system(
    kind: str,
    actor_id: str,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:system_grants:delete")),
) -> Response:
    runtime.identity.system_assignments.revoke(_actor(kind), actor_id, role_id)
    return render.empty_response(204)


def _system_assignments(request: Request, runtime: Runtime, ctx: RequestContext) -> Response:
    """``/v3/role_assignments?scope.system=all``: every system grant (an admin), or the
    caller's own."""
    q = request.query_params
    if q.get("scope.system") != "all":
        return render.collection(request, "role_assignments", [])
    users = [q["user.id"]] if "user.id" in q else None
    if not ctx.is_admin:
        users = [ctx.user_id] if users in (None, [ctx.user_id]) else []
    include_names = b.query_bool(q.get("include_names"), "include_names") if "include_names" in q else False
    found = runtime.identity.system_assignments.list(users, q.get("role.id"))
    names: dict[str, Any] = {}
    if include_names:
        wanted: list[tuple[Any, set[str]]] = [
            (Role, {r for _, _, r in found}),
            (User, {a for t, a, _ in found if t == "user"}),
            (Group, {a for t, a, _ in found if t == "group"}),
        ]
        for model, ids in wanted:
            if ids:
                names.update({obj.id: obj for obj in runtime.identity.directory.list(model, ids=ids)})

    def ref(ident: str, with_domain: bool) -> dict[str, Any]:
        obj = names.get(ident)
        if obj is None:
            return {"id": ident}
        out = {"id": ident, "name": obj.name}
        if with_domain:
            out["domain"] = {"id": obj.domain_id, "name": "Default" if obj.domain_id == "default" else obj.domain_id}
        return out

    items = []
    for actor_type, actor_id, role_id in found:
        path = "users" if actor_type == "user" else "groups"
        items.append(
            {
                "role": ref(role_id, False),
                actor_type: ref(actor_id, True),
                "scope": {"system": {"all": True}},
                "links": {"assignment": render.v3_url(request, f"/system/{path}/{actor_id}/roles/{role_id}")},
            }
        )
    return render.collection(request, "role_assignments", items)


# --- role assignments --------------------------------------------------------------------


@router.get("/v3/role_assignments")
def list_role_assignments(
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:role_assignments:list")),
) -> Response:
    q = request.query_params
    if "scope.system" in q:
        return _system_assignments(request, runtime, ctx)
    effective = b.query_bool(q.get("effective"), "effective") if "effective" in q else False
    include_names = b.query_bool(q.get("include_names"), "include_names") if "include_names" in q else False
    inherited_to = q.get("scope.OS-INHERIT:inherited_to")
    if inherited_to is not None and inherited_to != "projects":
        raise b.invalid("scope.OS-INHERIT:inherited_to", "the only value is 'projects'.")
    if effective and "group.id" in q:
        raise BadRequest("Combining effective and group filter will always result in an empty list.")
    if effective and inherited_to is not None and "scope.domain.id" in q:
        raise BadRequest("Combining effective, domain and inherited filters will always result in an empty list.")
    project_id = q.get("scope.project.id")
    domain_id = q.get("scope.domain.id")
    if project_id is not None and domain_id is not None:
        raise BadRequest("Specify a domain or project, not both.")
    if not ctx.is_admin:
        if domain_id is not None or (project_id is not None and project_id != ctx.project_id):
            return render.collection(request, "role_assignments", [])
        project_id = ctx.project_id or ""
    found = runtime.identity.assignments.list(
        user_id=q.get("user.id"),
        group_id=q.get("group.id"),
        project_id=project_id,
        domain_id=domain_id,
        role_id=q.get("role.id"),
        effective=bool(effective),
        inherited=True if inherited_to is not None else None,
    )
    names = _names(runtime, found) if include_names else None
    return render.collection(request, "role_assignments", [render.assignment(request, a, names) for a in found])


def _names(runtime: Runtime, found: list[Any]) -> dict[str, Any]:
    directory = runtime.identity.directory
    wanted: dict[type[Any], set[str]] = {Role: set(), Project: set(), User: set(), Group: set(), Domain: set()}
    for a in found:
        wanted[Role].add(a.role_id)
        if a.project_id:
            wanted[Project].add(a.project_id)
        if a.domain_id:
            wanted[Domain].add(a.domain_id)
        wanted[User if a.actor_type == "user" else Group].add(a.actor_id)
    names: dict[str, Any] = {}
    models: tuple[type[Any], ...] = (Role, Project, User, Group)
    for model in models:
        ids = wanted[model]
        if ids:
            for obj in directory.list(model, ids=ids):
                names[obj.id] = obj
                if getattr(obj, "domain_id", None):
                    wanted[Domain].add(obj.domain_id)
    if wanted[Domain]:
        names.update({d.id: d for d in directory.list(Domain, ids=wanted[Domain])})
    return names


# --- role inference rules (implied roles) ------------------------------------------------


def _inference(request: Request, prior: Role, implied: Role) -> dict[str, Any]:
    return {
        "role_inference": {"prior_role": render.role_ref(request, prior), "implies": render.role_ref(request, implied)},
        "links": {"self": render.v3_url(request, f"/roles/{prior.id}/implies/{implied.id}")},
    }


@router.get("/v3/role_inferences")
def list_role_inferences(
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:implied_roles:list")),
) -> Response:
    rules = [
        {"prior_role": render.role_ref(request, prior), "implies": [render.role_ref(request, r) for r in implied]}
        for prior, implied in runtime.identity.implied.all()
    ]
    return render.json_response({"role_inferences": rules, "links": {"self": str(request.url)}})


@router.get("/v3/roles/{prior_id}/implies")
def list_implied_roles(
    request: Request,
    prior_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:implied_roles:list")),
) -> Response:
    prior, implied = runtime.identity.implied.implied_by(prior_id)
    body = {
        "role_inference": {
            "prior_role": render.role_ref(request, prior),
            "implies": [render.role_ref(request, r) for r in implied],
        },
        "links": {"self": render.v3_url(request, f"/roles/{prior_id}/implies")},
    }
    return render.json_response(body)


@router.put("/v3/roles/{prior_id}/implies/{implied_id}")
def create_implied_role(
    request: Request,
    prior_id: str,
    implied_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:implied_roles:create")),
) -> Response:
    prior, implied = runtime.identity.implied.create(prior_id, implied_id)
    return render.json_response(_inference(request, prior, implied), 201)


@router.get("/v3/roles/{prior_id}/implies/{implied_id}")
def show_implied_role(
    request: Request,
    prior_id: str,
    implied_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:implied_roles:show")),
) -> Response:
    prior, implied = runtime.identity.implied.get(prior_id, implied_id)
    return render.json_response(_inference(request, prior, implied))


@router.head("/v3/roles/{prior_id}/implies/{implied_id}")
def check_implied_role(
    prior_id: str,
    implied_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:implied_roles:show")),
) -> Response:
    runtime.identity.implied.get(prior_id, implied_id)
    return render.empty_response(204)


@router.delete("/v3/roles/{prior_id}/implies/{implied_id}")
def delete_implied_role(
    prior_id: str,
    implied_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:implied_roles:delete")),
) -> Response:
    runtime.identity.implied.delete(prior_id, implied_id)
    return render.empty_response(204)
