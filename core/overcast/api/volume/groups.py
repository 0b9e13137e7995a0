"""Generic volume groups: ``group_types`` (3.11), ``groups`` (3.13, from a source 3.14,
reset-status 3.20) and ``group_snapshots`` (3.14, reset-status 3.19)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.api.volume import views
from overcast.api.volume.common import (
    ApiVersion,
    Version,
    all_projects,
    body_of,
    check_project,
    json_body,
    reply,
    sort_keys,
    truthy,
)
from overcast.context import RequestContext
from overcast.db.models.volume import VolumeGroup, VolumeGroupSnapshot, VolumeGroupType
from overcast.errors import BadRequest, NotFound
from overcast.runtime import Runtime

router = ResourceRouter()


def need(version: ApiVersion, minor: int) -> None:
    """Cinder's answer to a method older microversions do not have."""
    if not version.at_least(minor):
        raise NotFound(f"API version {version} is not supported on this method (it needs 3.{minor}).")


def _group_type(row: VolumeGroupType, is_admin: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.id, "name": row.name, "description": row.description, "is_public": row.is_public}
    if is_admin:
        out["group_specs"] = dict(row.group_specs or {})
    return out


def _group(row: VolumeGroup, volumes: list[str], version: ApiVersion) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "status": row.status,
        "availability_zone": row.availability_zone,
        "created_at": views.iso(row.created_at),
        "group_type": row.group_type_id,
        "volume_types": list(row.volume_type_ids or []),
        "group_snapshot_id": row.group_snapshot_id,
        "source_group_id": row.source_group_id,
    }
    if version.at_least(25):
        out["volumes"] = volumes
    if version.at_least(38):
        out["replication_status"] = "disabled"
    return out


def _group_snapshot(row: VolumeGroupSnapshot) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "status": row.status,
        "created_at": views.iso(row.created_at),
        "group_id": row.group_id,
        "group_type_id": row.group_type_id,
    }


# --- group types ------------------------------------------------------------------------------


@router.get("/group_types")
def list_group_types(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:group_types:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 11)
    q = request.query_params.get("is_public")
    is_public = None if q is None or q.lower() == "none" else truthy(q)
    with runtime.db.session() as s:
        rows = runtime.service("volume").group_types.all(s, ctx, is_public, sort_keys(request) or [])
        return reply({"group_types": [_group_type(r, ctx.is_admin) for r in rows]}, 200, version)


@router.get("/group_types/default")
def default_group_type(
    project_id: str,
    ctx: RequestContext = Depends(authorize("volume:group_types:show")),
    version: ApiVersion = Version,
) -> Response:
    """No default group type is configured in Overcast: Cinder's 404 for that case."""
    check_project(project_id, ctx)
    need(version, 11)
    raise NotFound("Default group type could not be found.")


@router.get("/group_types/{type_id}")
def show_group_type(
    project_id: str,
    type_id: str,
    ctx: RequestContext = Depends(authorize("volume:group_types:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 11)
    with runtime.db.session() as s:
        row = runtime.service("volume").group_types.get(s, ctx, type_id)
        return reply({"group_type": _group_type(row, ctx.is_admin)}, 200, version)


@router.post("/group_types")
async def create_group_type(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:group_types:create")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 11)
    body = body_of(await json_body(request), "group_type")
    with runtime.db.session() as s:
        row = runtime.service("volume").group_types.create(s, body)
        return reply({"group_type": _group_type(row, True)}, 202, version)


@router.put("/group_types/{type_id}")
async def update_group_type(
    project_id: str,
    type_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:group_types:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 11)
    body = body_of(await json_body(request), "group_type")
    with runtime.db.session() as s:
        row = runtime.service("volume").group_types.update(s, ctx, type_id, body)
        return reply({"group_type": _group_type(row, True)}, 200, version)


@router.delete("/group_types/{type_id}")
def delete_group_type(
    project_id: str,
    type_id: str,
    ctx: RequestContext = Depends(authorize("volume:group_types:delete")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 11)
    with runtime.db.session() as s:
        runtime.service("volume").group_types.delete(s, ctx, type_id)
    return reply(None, 202, version)


@router.get("/group_types/{type_id}/group_specs")
def list_group_specs(
    project_id: str,
    type_id: str,
    ctx: RequestContext = Depends(authorize("volume:group_types:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 11)
    with runtime.db.session() as s:
        row = runtime.service("volume").group_types.get(s, ctx, type_id)
        return reply({"group_specs": dict(row.group_specs or {})}, 200, version)


@router.post("/group_types/{type_id}/group_specs")
async def set_group_specs(
    project_id: str,
    type_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:group_types:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 11)
    body = body_of(await json_body(request), "group_specs")
    with runtime.db.session() as s:
        changes = runtime.service("volume").group_types.set_specs(s, ctx, type_id, body)
    return reply({"group_specs": changes}, 202, version)


@router.get("/group_types/{type_id}/group_specs/{key}")
def show_group_spec(
    project_id: str,
    type_id: str,
    key: str,
    ctx: RequestContext = Depends(authorize("volume:group_types:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 11)
    with runtime.db.session() as s:
        specs = dict(runtime.service("volume").group_types.get(s, ctx, type_id).group_specs or {})
    if key not in specs:
        raise NotFound(f"Group Type {type_id} has no specs with key {key}.")
    return reply({key: specs[key]}, 200, version)


@router.put("/group_types/{type_id}/group_specs/{key}")
async def update_group_spec(
    project_id: str,
    type_id: str,
    key: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:group_types:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 11)
    body = await json_body(request)
    if not isinstance(body, dict) or list(body) != [key]:
        raise BadRequest("Request body and URI mismatch")
    with runtime.db.session() as s:
        changes = runtime.service("volume").group_types.set_specs(s, ctx, type_id, body)
    return reply(changes, 200, version)


@router.delete("/group_types/{type_id}/group_specs/{key}")
def delete_group_spec(
    project_id: str,
    type_id: str,
    key: str,
    ctx: RequestContext = Depends(authorize("volume:group_types:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 11)
    with runtime.db.session() as s:
        runtime.service("volume").group_types.unset_spec(s, ctx, type_id, key)
    return reply(None, 202, version)


# --- groups -------------------------------------------------------------------------------------


def _list_groups(
    request: Request, ctx: RequestContext, runtime: Runtime, version: ApiVersion, detail: bool
) -> Response:
    need(version, 13)
    groups = runtime.service("volume").groups
    rows = groups.all(ctx, all_projects=all_projects(request, ctx))
    if not detail:
        return reply({"groups": [{"id": r.id, "name": r.name} for r in rows]}, 200, version)
    return reply({"groups": [_group(r, groups.volume_ids(r.id), version) for r in rows]}, 200, version)


@router.get("/groups")
def list_groups(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:groups:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    return _list_groups(request, ctx, runtime, version, detail=False)


@router.get("/groups/detail")
def list_groups_detail(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:groups:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    return _list_groups(request, ctx, runtime, version, detail=True)


@router.post("/groups")
async def create_group(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:groups:create")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 13)
    row = runtime.service("volume").groups.create(ctx, body_of(await json_body(request), "group"))
    return reply({"group": {"id": row.id, "name": row.name}}, 202, version)


@router.post("/groups/action")
async def create_group_from_source(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:groups:create")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 14)
    row = runtime.service("volume").groups.create_from_source(ctx, body_of(await json_body(request), "create-from-src"))
    return reply({"group": {"id": row.id, "name": row.name}}, 202, version)


@router.get("/groups/{group_id}")
def show_group(
    project_id: str,
    group_id: str,
    ctx: RequestContext = Depends(authorize("volume:groups:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 13)
    groups = runtime.service("volume").groups
    row = groups.get(ctx, group_id)
    return reply({"group": _group(row, groups.volume_ids(row.id), version)}, 200, version)


@router.put("/groups/{group_id}")
async def update_group(
    project_id: str,
    group_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:groups:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 13)
    runtime.service("volume").groups.update(ctx, group_id, body_of(await json_body(request), "group"))
    return reply(None, 202, version)


@router.post("/groups/{group_id}/action")
async def group_action(
    project_id: str,
    group_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:groups:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    """``delete`` (with ``delete-volumes``) and ``reset_status`` (admins, 3.20)."""
    check_project(project_id, ctx)
    need(version, 13)
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid request body: one action is expected.")
    ((action, args),) = body.items()
    groups = runtime.service("volume").groups
    if action == "delete":
        args = args if isinstance(args, dict) else {}
        groups.delete(ctx, group_id, truthy(args.get("delete-volumes", False)))
    elif action == "reset_status":
        need(version, 20)
        runtime.identity.enforce("volume:groups:reset_status", ctx)
        if not isinstance(args, dict):
            raise BadRequest("Missing required element 'status' in request body.")
        groups.reset_status(ctx, group_id, args.get("status"))
    else:
        raise BadRequest(f"There is no such action: {action}")
    return reply(None, 202, version)


# --- group snapshots ---------------------------------------------------------------------------


@router.get("/group_snapshots")
def list_group_snapshots(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:group_snapshots:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 14)
    rows = runtime.service("volume").groups.list_snapshots(ctx, all_projects(request, ctx))
    return reply({"group_snapshots": [{"id": r.id, "name": r.name} for r in rows]}, 200, version)


@router.get("/group_snapshots/detail")
def list_group_snapshots_detail(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:group_snapshots:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 14)
    rows = runtime.service("volume").groups.list_snapshots(ctx, all_projects(request, ctx))
    return reply({"group_snapshots": [_group_snapshot(r) for r in rows]}, 200, version)


@router.post("/group_snapshots")
async def create_group_snapshot(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:group_snapshots:create")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 14)
    body = body_of(await json_body(request), "group_snapshot")
    row = runtime.service("volume").groups.create_snapshot(ctx, body)
    return reply({"group_snapshot": {"id": row.id, "name": row.name, "group_type_id": row.group_type_id}}, 202, version)


@router.get("/group_snapshots/{snapshot_id}")
def show_group_snapshot(
    project_id: str,
    snapshot_id: str,
    ctx: RequestContext = Depends(authorize("volume:group_snapshots:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 14)
    row = runtime.service("volume").groups.get_snapshot(ctx, snapshot_id)
    return reply({"group_snapshot": _group_snapshot(row)}, 200, version)


@router.delete("/group_snapshots/{snapshot_id}")
def delete_group_snapshot(
    project_id: str,
    snapshot_id: str,
    ctx: RequestContext = Depends(authorize("volume:group_snapshots:delete")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 14)
    runtime.service("volume").groups.delete_snapshot(ctx, snapshot_id)
    return reply(None, 202, version)


@router.post("/group_snapshots/{snapshot_id}/action")
async def group_snapshot_action(
    project_id: str,
    snapshot_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:group_snapshots:reset_status")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 19)
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("reset_status"), dict):
        raise BadRequest("Missing required element 'reset_status' in request body.")
    runtime.service("volume").groups.reset_snapshot_status(ctx, snapshot_id, body["reset_status"].get("status"))
    return reply(None, 202, version)
