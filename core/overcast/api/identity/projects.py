"""``/v3/projects`` and their tags. Only an admin lists projects (403 otherwise, as Keystone's
default policy); a non-admin sees the project its token is scoped to, any other answers 404.

Domains are projects too in Keystone (``is_domain``): ``POST /v3/projects`` with
``is_domain: true`` creates a domain, ``?is_domain=true`` lists the domains as projects, and
a domain's id is accepted where a project id is, to update or delete it."""

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
from overcast.errors import BadRequest, Forbidden, NotFound
from overcast.identity.directory import not_found
from overcast.runtime import Runtime

router = ResourceRouter()

_FIELDS = {"name": "name", "description": "str", "enabled": "bool", "tags": "list"}


def visible_project(runtime: Runtime, ctx: RequestContext, project_id: str) -> Project:
    if not ctx.is_admin and project_id != ctx.project_id:
        raise not_found("project", project_id)
    return runtime.identity.directory.get(Project, project_id)


def _tag_filter(request: Request) -> Any:
    """Keystone's tag filters: ``tags`` (all of), ``tags-any``, ``not-tags``, ``not-tags-any``
    (each a comma-separated list)."""
    q = request.query_params
    wanted = {k: set(q[k].split(",")) for k in ("tags", "tags-any", "not-tags", "not-tags-any") if q.get(k)}

    def keep(p: Project) -> bool:
        tags = set(p.tags or [])
        if "tags" in wanted and not wanted["tags"] <= tags:
            return False
        if "tags-any" in wanted and not wanted["tags-any"] & tags:
            return False
        if "not-tags" in wanted and wanted["not-tags"] <= tags:
            return False
        return not ("not-tags-any" in wanted and wanted["not-tags-any"] & tags)

    return keep


@router.get("/v3/projects")
def list_projects(
    request: Request,
    name: str | None = None,
    domain_id: str | None = None,
    enabled: str | None = None,
    parent_id: str | None = None,
    is_domain: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:projects:list")),
) -> Response:
    on = b.query_bool(enabled, "enabled")
    directory = runtime.identity.directory
    if b.query_bool(is_domain, "is_domain"):
        if not ctx.is_admin:
            raise Forbidden("You are not authorized to perform the requested action: identity:list_projects.")
        domains = directory.list(Domain, {"name": name, "enabled": on})
        return render.collection(request, "projects", [render.domain_as_project(request, d) for d in domains])
    if not ctx.is_admin:
        # as Keystone's default policy: a project-scoped token lists its projects through
        # /v3/auth/projects or /v3/users/{id}/projects, not here
        raise Forbidden("You are not authorized to perform the requested action: identity:list_projects.")
    filters: dict[str, Any] = {"name": name, "domain_id": domain_id, "enabled": on}
    projects = directory.list(Project, filters)
    if parent_id is not None:
        # a domain's id as parent: its top-level projects
        projects = [p for p in projects if (p.parent_id or p.domain_id) == parent_id]
    keep = _tag_filter(request)
    items = [render.project(request, p) for p in projects if keep(p)]
    return render.collection(request, "projects", items)


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
    tags = check_tags(values.get("tags") or [])
    if b.boolean(obj, "is_domain"):
        if obj.get("domain_id") or obj.get("parent_id"):
            raise b.invalid("domain_id", "a project that is a domain has neither domain_id nor parent_id.")
        domain = runtime.identity.domains.create(
            values["name"], description=values.get("description") or "", enabled=values.get("enabled") is not False
        )
        return render.json_response({"project": render.domain_as_project(request, domain)}, 201)
    project = runtime.identity.directory.create_project(
        values["name"],
        domain_id=b.string(obj, "domain_id"),
        description=values.get("description") or "",
        enabled=values.get("enabled") is not False,
        tags=tags,
        parent_id=b.string(obj, "parent_id"),
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
    obj = b.entity(body, "project")
    values = b.changes(obj, _FIELDS)
    if values.get("enabled") is None:
        values.pop("enabled", None)
    if "tags" in values:
        values["tags"] = check_tags(values["tags"] or [])
    domain = _domain_project(runtime, project_id)
    current = (
        render.domain_as_project(request, domain)
        if domain is not None
        else render.project(request, runtime.identity.directory.get(Project, project_id))
    )
    for fixed in ("domain_id", "parent_id", "is_domain"):
        if fixed in obj and obj[fixed] != current[fixed]:
            raise BadRequest(f"Update of `{fixed}` is not allowed.")
    if domain is not None:
        values.pop("tags", None)
        updated = runtime.identity.domains.update(project_id, values)
        return render.json_response({"project": render.domain_as_project(request, updated)})
    project = runtime.identity.directory.update_project(project_id, values)
    return render.json_response({"project": render.project(request, project)})


@router.delete("/v3/projects/{project_id}")
def delete_project(
    project_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:projects:delete")),
) -> Response:
    if _domain_project(runtime, project_id) is not None:
        runtime.identity.domains.delete(project_id)
    else:
        runtime.identity.directory.delete_project(project_id)
    return render.empty_response(204)


def _domain_project(runtime: Runtime, project_id: str) -> Domain | None:
    """The domain ``project_id`` names, when it names no project (Keystone's is_domain)."""
    directory = runtime.identity.directory
    try:
        directory.get(Project, project_id)
        return None
    except NotFound:
        pass
    try:
        return runtime.identity.domains.get(project_id)
    except NotFound:
        return None


# --- tags ---------------------------------------------------------------------------------

MAX_TAGS = 80


def check_tags(tags: list[str]) -> list[str]:
    """Keystone's rules: at most 80 distinct tags of 1 to 255 characters, without ``/`` or ``,``."""
    if len(tags) > MAX_TAGS:
        raise b.invalid("tags", f"at most {MAX_TAGS} tags are allowed.")
    for tag in tags:
        check_tag(tag)
    if len(set(tags)) != len(tags):
        raise b.invalid("tags", "tags must be unique.")
    return list(tags)


def check_tag(tag: str) -> str:
    if not tag or len(tag) > 255 or "/" in tag or "," in tag:
        raise b.invalid("tags", f"{tag!r} is not a valid tag: 1 to 255 characters, without '/' or ','.")
    return tag


@router.get("/v3/projects/{project_id}/tags")
def list_tags(
    project_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:project_tags:list")),
) -> Response:
    return render.json_response({"tags": list(visible_project(runtime, ctx, project_id).tags or [])})


@router.put("/v3/projects/{project_id}/tags")
def replace_tags(
    project_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:project_tags:update")),
) -> Response:
    if not isinstance(body, dict) or not isinstance(body.get("tags"), list):
        raise b.invalid("tags", "'tags' is a required property and must be a list of strings.")
    tags = check_tags(b.string_list(body, "tags") or [])
    project = runtime.identity.directory.update_project(project_id, {"tags": tags})
    return render.json_response({"tags": list(project.tags or [])})


@router.delete("/v3/projects/{project_id}/tags")
def delete_tags(
    project_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:project_tags:delete")),
) -> Response:
    runtime.identity.directory.update_project(project_id, {"tags": []})
    return render.empty_response(204)


@router.api_route("/v3/projects/{project_id}/tags/{tag}", methods=["GET", "HEAD"])
def check_tag_exists(
    project_id: str,
    tag: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:project_tags:show")),
) -> Response:
    if tag not in (visible_project(runtime, ctx, project_id).tags or []):
        raise NotFound(f"Tag {tag} was not found on project {project_id}.", code="ProjectTagNotFound")
    return render.empty_response(204)


@router.put("/v3/projects/{project_id}/tags/{tag}")
def add_tag(
    request: Request,
    project_id: str,
    tag: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:project_tags:create")),
) -> Response:
    project = runtime.identity.directory.get(Project, project_id)
    tags = list(project.tags or [])
    if tag not in tags:
        tags = check_tags([*tags, check_tag(tag)])
        runtime.identity.directory.update_project(project_id, {"tags": tags})
    location = render.v3_url(request, f"/projects/{project_id}/tags/{tag}")
    return render.empty_response(201, {"Location": location})


@router.delete("/v3/projects/{project_id}/tags/{tag}")
def delete_tag(
    project_id: str,
    tag: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:project_tags:delete")),
) -> Response:
    project = runtime.identity.directory.get(Project, project_id)
    tags = list(project.tags or [])
    if tag not in tags:
        raise NotFound(f"Tag {tag} was not found on project {project_id}.", code="ProjectTagNotFound")
    runtime.identity.directory.update_project(project_id, {"tags": [t for t in tags if t != tag]})
    return render.empty_response(204)
