"""OS-EP-FILTER: ``/v3/OS-EP-FILTER/endpoint_groups`` and the endpoints and endpoint groups
associated with projects, which narrow those projects' token catalogs (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.identity import body as b
from overcast.api.identity import render
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.db.models.identity import EndpointGroup, Project
from overcast.identity.catalog_store import endpoint_not_found
from overcast.identity.endpoint_filter import matches
from overcast.runtime import Runtime

router = ResourceRouter()

EP = "/v3/OS-EP-FILTER"


def _group(request: Request, g: EndpointGroup) -> dict[str, Any]:
    return {
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "filters": dict(g.filters or {}),
        "links": {"self": render.v3_url(request, f"/OS-EP-FILTER/endpoint_groups/{g.id}")},
    }


def _endpoint(request: Request, e: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": e["id"],
        "service_id": e["service_id"],
        "interface": e["interface"],
        "region": e["region_id"],
        "region_id": e["region_id"],
        "url": e["url"],
        "enabled": e.get("enabled", True),
        "links": {"self": render.v3_url(request, f"/endpoints/{e['id']}")},
    }


def _known_endpoint(runtime: Runtime, endpoint_id: str) -> dict[str, Any]:
    for e in runtime.identity.all_endpoints():
        if e["id"] == endpoint_id:
            return e
    raise endpoint_not_found(endpoint_id)


# --- endpoint groups ------------------------------------------------------------------------


@router.get(EP + "/endpoint_groups")
def list_endpoint_groups(
    request: Request,
    name: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:list")),
) -> Response:
    groups = runtime.identity.endpoint_filter.list_groups(name)
    return render.collection(request, "endpoint_groups", [_group(request, g) for g in groups])


@router.post(EP + "/endpoint_groups")
def create_endpoint_group(
    request: Request,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:create")),
) -> Response:
    obj = b.entity(body, "endpoint_group")
    name = b.string(obj, "name", required=True) or ""
    description = b.string(obj, "description", max_len=65535) or ""
    group = runtime.identity.endpoint_filter.create(name, description, obj.get("filters"))
    return render.json_response({"endpoint_group": _group(request, group)}, 201)


@router.api_route(EP + "/endpoint_groups/{group_id}", methods=["GET", "HEAD"])
def show_endpoint_group(
    request: Request,
    group_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:show")),
) -> Response:
    return render.json_response({"endpoint_group": _group(request, runtime.identity.endpoint_filter.get(group_id))})


@router.patch(EP + "/endpoint_groups/{group_id}")
def update_endpoint_group(
    request: Request,
    group_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:update")),
) -> Response:
    obj = b.entity(body, "endpoint_group")
    changes: dict[str, Any] = {}
    if "name" in obj:
        changes["name"] = b.string(obj, "name", required=True)
    if "description" in obj:
        changes["description"] = b.string(obj, "description", max_len=65535)
    if "filters" in obj:
        changes["filters"] = obj["filters"]
    group = runtime.identity.endpoint_filter.update(group_id, changes)
    return render.json_response({"endpoint_group": _group(request, group)})


@router.delete(EP + "/endpoint_groups/{group_id}")
def delete_endpoint_group(
    group_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:delete")),
) -> Response:
    runtime.identity.endpoint_filter.delete(group_id)
    return render.empty_response(204)


@router.get(EP + "/endpoint_groups/{group_id}/endpoints")
def endpoints_of_group(
    request: Request,
    group_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:list")),
) -> Response:
    group = runtime.identity.endpoint_filter.get(group_id)
    found = [e for e in runtime.identity.all_endpoints() if matches(group.filters or {}, e)]
    return render.collection(request, "endpoints", [_endpoint(request, e) for e in found])


@router.get(EP + "/endpoint_groups/{group_id}/projects")
def projects_of_group(
    request: Request,
    group_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:list")),
) -> Response:
    projects = runtime.identity.endpoint_filter.projects_of_group(group_id)
    return render.collection(request, "projects", [render.project(request, p) for p in projects])


@router.put(EP + "/endpoint_groups/{group_id}/projects/{project_id}")
def add_group_to_project(
    group_id: str,
    project_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:create")),
) -> Response:
    runtime.identity.endpoint_filter.add_group(group_id, project_id)
    return render.empty_response(204)


@router.api_route(EP + "/endpoint_groups/{group_id}/projects/{project_id}", methods=["GET", "HEAD"])
def show_group_project(
    request: Request,
    group_id: str,
    project_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:show")),
) -> Response:
    project = runtime.identity.endpoint_filter.has_group(group_id, project_id)
    return render.json_response({"project": render.project(request, project)})


@router.delete(EP + "/endpoint_groups/{group_id}/projects/{project_id}")
def remove_group_from_project(
    group_id: str,
    project_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:delete")),
) -> Response:
    runtime.identity.endpoint_filter.remove_group(group_id, project_id)
    return render.empty_response(204)


@router.get(EP + "/projects/{project_id}/endpoint_groups")
def groups_of_project(
    request: Request,
    project_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:list")),
) -> Response:
    groups = runtime.identity.endpoint_filter.groups_of_project(project_id)
    return render.collection(request, "endpoint_groups", [_group(request, g) for g in groups])


# --- endpoints of projects ------------------------------------------------------------------


@router.get(EP + "/projects/{project_id}/endpoints")
def endpoints_of_project(
    request: Request,
    project_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:list")),
) -> Response:
    runtime.identity.directory.get(Project, project_id)
    allowed = runtime.identity.endpoint_filter.allowed(project_id, runtime.identity.all_endpoints) or frozenset()
    found = [e for e in runtime.identity.all_endpoints() if e["id"] in allowed]
    return render.collection(request, "endpoints", [_endpoint(request, e) for e in found])


@router.put(EP + "/projects/{project_id}/endpoints/{endpoint_id}")
def add_endpoint_to_project(
    project_id: str,
    endpoint_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:create")),
) -> Response:
    _known_endpoint(runtime, endpoint_id)
    runtime.identity.endpoint_filter.add_endpoint(project_id, endpoint_id)
    return render.empty_response(204)


@router.api_route(EP + "/projects/{project_id}/endpoints/{endpoint_id}", methods=["GET", "HEAD"])
def check_endpoint_in_project(
    project_id: str,
    endpoint_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:show")),
) -> Response:
    _known_endpoint(runtime, endpoint_id)
    if not runtime.identity.endpoint_filter.has_endpoint(project_id, endpoint_id):
        raise endpoint_not_found(endpoint_id)
    return render.empty_response(204)


@router.delete(EP + "/projects/{project_id}/endpoints/{endpoint_id}")
def remove_endpoint_from_project(
    project_id: str,
    endpoint_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:delete")),
) -> Response:
    runtime.identity.endpoint_filter.remove_endpoint(project_id, endpoint_id)
    return render.empty_response(204)


@router.get(EP + "/endpoints/{endpoint_id}/projects")
def projects_of_endpoint(
    request: Request,
    endpoint_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoint_groups:list")),
) -> Response:
    _known_endpoint(runtime, endpoint_id)
    projects = runtime.identity.endpoint_filter.projects_of_endpoint(endpoint_id)
    return render.collection(request, "projects", [render.project(request, p) for p in projects])
