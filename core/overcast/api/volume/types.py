"""``/volume/v3/{project_id}/types`` and their extra specs (changes are admin-only)."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.api.volume import views
from overcast.api.volume.common import ApiVersion, Version, body_of, check_project, json_body, reply, truthy
from overcast.context import RequestContext
from overcast.errors import BadRequest, NotFound
from overcast.runtime import Runtime

router = ResourceRouter()


def _types(runtime: Runtime):  # noqa: ANN202
    return runtime.service("volume").types


@router.get("/types")
def list_types(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:types:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    q = request.query_params.get("is_public")
    with runtime.db.session() as s:
        # Cinder's is_none_string: "none" in any case (the SDK's find_type sends "none") is every type
        rows = _types(runtime).list(s, ctx, None if q is None or q.lower() == "none" else truthy(q))
        return reply({"volume_types": [views.volume_type(r, ctx.is_admin) for r in rows]}, 200, version)


@router.get("/types/{type_id}")
def show_type(
    project_id: str,
    type_id: str,
    ctx: RequestContext = Depends(authorize("volume:types:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        row = _types(runtime).get(s, type_id)
        if not _types(runtime).may_use(s, ctx, row):
            raise NotFound(f"Volume type {type_id} could not be found.")
        return reply({"volume_type": views.volume_type(row, ctx.is_admin)}, 200, version)


@router.post("/types")
async def create_type(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:types:create")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "volume_type")
    specs = body.get("extra_specs") or {}
    if not isinstance(specs, dict):
        raise BadRequest("Invalid input received: extra_specs must be an object.")
    with runtime.db.session() as s:
        row = _types(runtime).create(
            s,
            body.get("name"),
            body.get("description"),
            truthy(body.get("os-volume-type-access:is_public", body.get("is_public", True))),
            specs,
        )
        return reply({"volume_type": views.volume_type(row, True, created=True)}, 200, version)


@router.put("/types/{type_id}")
async def update_type(
    project_id: str,
    type_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:types:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "volume_type")
    is_public = body.get("is_public")
    with runtime.db.session() as s:
        row = _types(runtime).update(
            s, type_id, body.get("name"), body.get("description"), None if is_public is None else truthy(is_public)
        )
        return reply({"volume_type": views.volume_type(row, True, updated=True)}, 200, version)


@router.delete("/types/{type_id}")
def delete_type(
    project_id: str,
    type_id: str,
    ctx: RequestContext = Depends(authorize("volume:types:delete")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        _types(runtime).delete(s, type_id)
    return reply(None, 202, version)


@router.get("/types/{type_id}/extra_specs")
def list_specs(
    project_id: str,
    type_id: str,
    ctx: RequestContext = Depends(authorize("volume:type_specs:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        return reply({"extra_specs": dict(_types(runtime).get(s, type_id).extra_specs or {})}, 200, version)


@router.post("/types/{type_id}/extra_specs")
async def set_specs(
    project_id: str,
    type_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:type_specs:create")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("extra_specs"), dict):
        raise BadRequest("Missing required element 'extra_specs' in request body.")
    with runtime.db.session() as s:
        merged = _types(runtime).set_specs(s, type_id, body["extra_specs"])
    # Cinder answers with the keys the request set, not the type's whole set
    return reply({"extra_specs": {k: merged[k] for k in body["extra_specs"]}}, 200, version)


@router.get("/types/{type_id}/extra_specs/{key}")
def show_spec(
    project_id: str,
    type_id: str,
    key: str,
    ctx: RequestContext = Depends(authorize("volume:type_specs:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        specs = _types(runtime).get(s, type_id).extra_specs or {}
    if key not in specs:
        raise NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
    return reply({key: specs[key]}, 200, version)


@router.put("/types/{type_id}/extra_specs/{key}")
async def update_spec(
    project_id: str,
    type_id: str,
    key: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:type_specs:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = await json_body(request)
    if not isinstance(body, dict) or list(body) != [key]:
        raise BadRequest("Request body and URI mismatch.")
    with runtime.db.session() as s:
        specs = _types(runtime).set_specs(s, type_id, body)
    return reply({key: specs[key]}, 200, version)


@router.delete("/types/{type_id}/extra_specs/{key}")
def delete_spec(
    project_id: str,
    type_id: str,
    key: str,
    ctx: RequestContext = Depends(authorize("volume:type_specs:delete")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        _types(runtime).unset_spec(s, type_id, key)
    return reply(None, 202, version)


# --- private types: os-volume-type-access ------------------------------------------------------


@router.get("/types/{type_id}/os-volume-type-access")
def list_access(
    project_id: str,
    type_id: str,
    ctx: RequestContext = Depends(authorize("volume:type_access:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        projects = _types(runtime).list_access(s, type_id)
    return reply({"volume_type_access": [{"volume_type_id": type_id, "project_id": p} for p in projects]}, 200, version)


@router.post("/types/{type_id}/action")
async def type_action(
    project_id: str,
    type_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:type_access:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    """``addProjectAccess`` and ``removeProjectAccess`` (a private type's projects)."""
    check_project(project_id, ctx)
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid request body: one action is expected.")
    ((action, args),) = body.items()
    if action not in ("addProjectAccess", "removeProjectAccess") or not isinstance(args, dict):
        raise BadRequest(f"There is no such action: {action}")
    with runtime.db.session() as s:
        if action == "addProjectAccess":
            _types(runtime).add_access(s, type_id, args.get("project"))
        else:
            _types(runtime).remove_access(s, type_id, args.get("project"))
    return reply(None, 202, version)


# --- encryption types: refused (no key manager to hold the keys) ----------------------------


@router.get("/types/{type_id}/encryption")
def show_encryption(
    project_id: str,
    type_id: str,
    ctx: RequestContext = Depends(authorize("volume:types:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    """No type is encrypted: Cinder's answer for a type without an encryption type is ``{}``."""
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        row = _types(runtime).get(s, type_id)
        if not _types(runtime).may_use(s, ctx, row):
            raise NotFound(f"Volume type {type_id} could not be found.")
    return reply({}, 200, version)


@router.api_route("/types/{type_id}/encryption", methods=["POST"])
@router.api_route("/types/{type_id}/encryption/{encryption_id}", methods=["PUT", "DELETE"])
def change_encryption(
    project_id: str,
    type_id: str,
    ctx: RequestContext = Depends(authorize("volume:types:update")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        _types(runtime).get(s, type_id)
    raise BadRequest(
        "Invalid input received: volume encryption is not supported: this cloud has no key manager "
        "to keep the volumes' keys."
    )
