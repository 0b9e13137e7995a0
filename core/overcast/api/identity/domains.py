"""``/v3/domains``, grants on domains (``/v3/domains/{d}/users|groups/{a}/roles/{r}``) and
OS-INHERIT's inherited grants (``/v3/OS-INHERIT/domains|projects/.../inherited_to_projects``).

A non-admin sees the domain of its own project only, and only its own grants."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.identity import body as b
from overcast.api.identity import render
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.db.models.identity import Domain, Project
from overcast.identity.directory import not_found
from overcast.runtime import Runtime

router = ResourceRouter()

_FIELDS = {"name": "name", "description": "str", "enabled": "bool"}
_ACTORS = {"users": "user", "groups": "group"}
_TARGETS = {"domains": "domain", "projects": "project"}


def _actor(kind: str) -> str:
    actor = _ACTORS.get(kind)
    if actor is None:
        raise not_found("resource", kind)
    return actor


def own_domain_id(runtime: Runtime, ctx: RequestContext) -> str | None:
    """The domain of the caller's project (what a non-admin may look at)."""
    if not ctx.project_id:
        return None
    return runtime.identity.directory.get(Project, ctx.project_id).domain_id


def visible_domain(runtime: Runtime, ctx: RequestContext, domain_id: str) -> Domain:
    if not ctx.is_admin and domain_id != own_domain_id(runtime, ctx):
        raise not_found("domain", domain_id)
    return runtime.identity.domains.get(domain_id)


@router.get("/v3/domains")
def list_domains(
    request: Request,
    name: str | None = None,
    enabled: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:domains:list")),
) -> Response:
    ids = None if ctx.is_admin else {own_domain_id(runtime, ctx) or ""}
    filters = {"name": name, "enabled": b.query_bool(enabled, "enabled")}
    domains = runtime.identity.directory.list(Domain, filters, ids)
    return render.collection(request, "domains", [render.domain(request, d) for d in domains])


@router.post("/v3/domains")
def create_domain(
    request: Request,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:domains:create")),
) -> Response:
    obj = b.entity(body, "domain")
    values = b.changes(obj, _FIELDS)
    if "name" not in values:
        raise b.invalid("name", "'name' is a required property.")
    domain = runtime.identity.domains.create(
        values["name"],
        description=values.get("description") or "",
        enabled=values.get("enabled") is not False,
        domain_id=b.string(obj, "explicit_domain_id"),
    )
    return render.json_response({"domain": render.domain(request, domain)}, 201)


@router.get("/v3/domains/{domain_id}")
def show_domain(
    request: Request,
    domain_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:domains:show")),
) -> Response:
    return render.json_response({"domain": render.domain(request, visible_domain(runtime, ctx, domain_id))})


@router.patch("/v3/domains/{domain_id}")
def update_domain(
    request: Request,
    domain_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:domains:update")),
) -> Response:
    domain = runtime.identity.domains.update(domain_id, b.changes(b.entity(body, "domain"), _FIELDS))
    return render.json_response({"domain": render.domain(request, domain)})


@router.delete("/v3/domains/{domain_id}")
def delete_domain(
    domain_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:domains:delete")),
) -> Response:
    runtime.identity.domains.delete(domain_id)
    return render.empty_response(204)


# --- grants on domains --------------------------------------------------------------------


def _visible_grant(runtime: Runtime, ctx: RequestContext, domain_id: str, actor: str, actor_id: str) -> None:
    """A non-admin may look at its own roles on its own domain, nothing else."""
    if ctx.is_admin:
        return
    if domain_id != own_domain_id(runtime, ctx):
        raise not_found("domain", domain_id)
    if actor != "user" or actor_id != ctx.user_id:
        raise not_found(actor, actor_id)


@router.get("/v3/domains/{domain_id}/{kind}/{actor_id}/roles")
def list_domain_grants(
    request: Request,
    domain_id: str,
    kind: str,
    actor_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:grants:list")),
) -> Response:
    actor = _actor(kind)
    _visible_grant(runtime, ctx, domain_id, actor, actor_id)
    roles = runtime.identity.assignments.direct_roles(actor, actor_id, domain_id, target="domain")
    return render.collection(request, "roles", [render.role(request, r) for r in roles])


@router.put("/v3/domains/{domain_id}/{kind}/{actor_id}/roles/{role_id}")
def grant_on_domain(
    domain_id: str,
    kind: str,
    actor_id: str,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:grants:create")),
) -> Response:
    runtime.identity.assignments.grant(_actor(kind), actor_id, domain_id, role_id, target="domain")
    return render.empty_response(204)


@router.api_route("/v3/domains/{domain_id}/{kind}/{actor_id}/roles/{role_id}", methods=["GET", "HEAD"])
def check_domain_grant(
    domain_id: str,
    kind: str,
    actor_id: str,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:grants:show")),
) -> Response:
    actor = _actor(kind)
    _visible_grant(runtime, ctx, domain_id, actor, actor_id)
    if not runtime.identity.assignments.exists(actor, actor_id, domain_id, role_id, target="domain"):
        raise not_found("role assignment", f"{role_id} for {actor} {actor_id} on domain {domain_id}")
    return render.empty_response(204)


@router.delete("/v3/domains/{domain_id}/{kind}/{actor_id}/roles/{role_id}")
def revoke_on_domain(
    domain_id: str,
    kind: str,
    actor_id: str,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:grants:delete")),
) -> Response:
    runtime.identity.assignments.revoke(_actor(kind), actor_id, domain_id, role_id, target="domain")
    return render.empty_response(204)


# --- OS-INHERIT ---------------------------------------------------------------------------

_INHERIT = "/v3/OS-INHERIT/{target}/{target_id}/{kind}/{actor_id}/roles"


def _target(target: str) -> str:
    found = _TARGETS.get(target)
    if found is None:
        raise not_found("resource", target)
    return found


@router.get(_INHERIT + "/inherited_to_projects")
def list_inherited_grants(
    request: Request,
    target: str,
    target_id: str,
    kind: str,
    actor_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:inherited_grants:list")),
) -> Response:
    roles = runtime.identity.assignments.direct_roles(
        _actor(kind), actor_id, target_id, inherited=True, target=_target(target)
    )
    return render.collection(request, "roles", [render.role(request, r) for r in roles])


@router.put(_INHERIT + "/{role_id}/inherited_to_projects")
def grant_inherited(
    target: str,
    target_id: str,
    kind: str,
    actor_id: str,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:inherited_grants:create")),
) -> Response:
    runtime.identity.assignments.grant(_actor(kind), actor_id, target_id, role_id, True, _target(target))
    return render.empty_response(204)


@router.api_route(_INHERIT + "/{role_id}/inherited_to_projects", methods=["GET", "HEAD"])
def check_inherited_grant(
    target: str,
    target_id: str,
    kind: str,
    actor_id: str,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:inherited_grants:show")),
) -> Response:
    actor, where = _actor(kind), _target(target)
    if not runtime.identity.assignments.exists(actor, actor_id, target_id, role_id, True, where):
        raise not_found("role assignment", f"{role_id} for {actor} {actor_id} inherited from {where} {target_id}")
    return render.empty_response(204)


@router.delete(_INHERIT + "/{role_id}/inherited_to_projects")
def revoke_inherited(
    target: str,
    target_id: str,
    kind: str,
    actor_id: str,
    role_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:inherited_grants:delete")),
) -> Response:
    runtime.identity.assignments.revoke(_actor(kind), actor_id, target_id, role_id, True, _target(target))
    return render.empty_response(204)
