"""``/v3/projects`` and ``/v3/domains``. A non-admin sees only the project its token is
scoped to; any other project answers 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.identity import body as b
from overcast.api.identity import render
from overcast.context import RequestContext
from overcast.db.models.identity import Domain, Project
from overcast.identity.directory import not_found
from overcast.runtime import Runtime

router = APIRouter()

_FIELDS = {"name": "name", "description": "str", "enabled": "bool", "tags": "list"}


def visible_project(runtime: Runtime, ctx: RequestContext, project_id: str) -> Project:
    if not ctx.is_admin and project_id != ctx.project_id:
        raise not_found("project", project_id)
    return runtime.identity.directory.get(Project, project_id)


@router.get("/v3/projects")
def list_projects(
    request: Request,
    name: str | None = None,
    domain_id: str | None = None,
    enabled: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:projects:list")),
) -> Response:
    filters = {"name": name, "domain_id": domain_id, "enabled": b.query_bool(enabled, "enabled")}
    ids = None if ctx.is_admin else {ctx.project_id or ""}
    projects = runtime.identity.directory.list(Project, filters, ids)
    return render.collection(request, "projects", [render.project(request, p) for p in projects])


@router.post("/v3/projects")
def create_project(
    request: Request,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:projects:create")),
) -> Response:
    obj = b.entity(body, "project")
    values = b.changes(obj, _FIELDS)
    if "name" not in values:
        raise b.invalid("name", "'name' is a required property.")
    domain_id = b.string(obj, "domain_id") or b.string(obj, "parent_id")
    project = runtime.identity.directory.create_project(
        values["name"],
        domain_id=domain_id,
        description=values.get("description") or "",
        enabled=values.get("enabled") is not False,
        tags=values.get("tags"),
    )
    return render.json_response({"project": render.project(request, project)}, 201)


@router.get("/v3/projects/{project_id}")
def show_project(
    request: Request,
    project_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:projects:show")),
) -> Response:
    return render.json_response({"project": render.project(request, visible_project(runtime, ctx, project_id))})


@router.patch("/v3/projects/{project_id}")
def update_project(
    request: Request,
    project_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:projects:update")),
) -> Response:
    values = b.changes(b.entity(body, "project"), _FIELDS)
    if values.get("enabled") is None:
        values.pop("enabled", None)
    project = runtime.identity.directory.update_project(project_id, values)
    return render.json_response({"project": render.project(request, project)})


@router.delete("/v3/projects/{project_id}")
def delete_project(
    project_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:projects:delete")),
) -> Response:
    runtime.identity.directory.delete_project(project_id)
    return render.empty_response(204)


# --- domains (the default domain only; read-only) -----------------------------------------


@router.get("/v3/domains")
def list_domains(
    request: Request,
    name: str | None = None,
    enabled: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:domains:list")),
) -> Response:
    domains = runtime.identity.directory.list(Domain, {"name": name, "enabled": b.query_bool(enabled, "enabled")})
    return render.collection(request, "domains", [render.domain(request, d) for d in domains])


@router.get("/v3/domains/{domain_id}")
def show_domain(
    request: Request,
    domain_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:domains:show")),
) -> Response:
    return render.json_response({"domain": render.domain(request, runtime.identity.directory.get(Domain, domain_id))})
