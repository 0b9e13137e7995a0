"""``/volume/v3/{project_id}/backups`` (Cinder's backup API, issue 18)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.api.volume.common import (
    ApiVersion,
    Version,
    all_projects,
    base_url,
    body_of,
    check_project,
    json_body,
    offset_of,
    paging,
    reply,
    sort_keys,
    truthy,
)
from overcast.context import RequestContext
from overcast.db.models.volume_backups import VolumeBackup
from overcast.errors import BadRequest
from overcast.runtime import Runtime

router = ResourceRouter()


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="microseconds") if value is not None else None


def _links(request: Request, project_id: str, backup_id: str) -> list[dict[str, str]]:
    base = base_url(request)
    return [
        {"rel": "self", "href": f"{base}/volume/v3/{project_id}/backups/{backup_id}"},
        {"rel": "bookmark", "href": f"{base}/volume/{project_id}/backups/{backup_id}"},
    ]


def _summary(request: Request, row: VolumeBackup) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "links": _links(request, row.project_id, row.id)}


def _detail(
    request: Request, row: VolumeBackup, version: ApiVersion, ctx: RequestContext, dependents: set[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        **_summary(request, row),
        "description": row.description,
        "status": row.status,
        "availability_zone": row.availability_zone,
        "volume_id": row.volume_id,
        "snapshot_id": row.snapshot_id,
        "container": row.container,
        "size": row.size,
        "object_count": row.object_count,
        "fail_reason": row.fail_reason,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "data_timestamp": _iso(row.data_timestamp),
        "has_dependent_backups": row.id in dependents,
        "is_incremental": row.is_incremental,
    }
    if version.at_least(18) and ctx.is_admin:
        out["os-backup-project-attr:project_id"] = row.project_id
    if version.at_least(43):
        out["metadata"] = dict(row.metadata_ or {})
    if version.at_least(56):
        out["user_id"] = row.user_id
    if version.at_least(64):
        out["encryption_key_id"] = None
    return out


def _list(
    request: Request, ctx: RequestContext, runtime: Runtime, project_id: str, version: ApiVersion, detail: bool
) -> Response:
    check_project(project_id, ctx)
    marker, limit = paging(request)
    q = request.query_params
    filters = {k: q.get(k) for k in ("name", "status", "volume_id", "project_id")}
    svc = runtime.service("volume").backups
    rows = svc.list(ctx, filters, all_projects(request, ctx), marker, limit, sort_keys(request), offset_of(request))
    if detail:
        deps = svc.dependents([r.id for r in rows])
        items = [_detail(request, r, version, ctx, deps) for r in rows]
    else:
        items = [_summary(request, r) for r in rows]
    body: dict[str, Any] = {"backups": items}
    if limit is not None and rows and len(rows) == limit:
        path = f"{base_url(request)}/volume/v3/{project_id}/backups{'/detail' if detail else ''}"
        body["backups_links"] = [{"rel": "next", "href": f"{path}?limit={limit}&marker={rows[-1].id}"}]
    return reply(body, 200, version)


@router.get("/backups")
def list_backups(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:backups:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    return _list(request, ctx, runtime, project_id, version, detail=False)


@router.get("/backups/detail")
def list_backups_detail(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:backups:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    return _list(request, ctx, runtime, project_id, version, detail=True)


@router.post("/backups")
async def create_backup(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:backups:create")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "backup")
    if not body.get("volume_id"):
        raise BadRequest("Invalid input received: volume_id is required.")
    extra = set(body) - {
        "volume_id",
        "container",
        "name",
        "description",
        "incremental",
        "force",
        "snapshot_id",
        "metadata",
        "availability_zone",
        "display_name",
        "display_description",
    }
    if extra:
        raise BadRequest(
            f"Invalid input for field/attribute backup. Additional properties are not allowed ({', '.join(sorted(extra))} were unexpected)"
        )
    if "metadata" in body and not version.at_least(43):
        raise BadRequest("Invalid input received: metadata needs microversion 3.43 or later.")
    row = runtime.service("volume").backups.create(
        ctx,
        body["volume_id"],
        container=body.get("container"),
        name=body.get("name", body.get("display_name")),
        description=body.get("description", body.get("display_description")),
        incremental=truthy(body.get("incremental", False)),
        force=truthy(body.get("force", False)),
        snapshot_id=body.get("snapshot_id"),
        metadata=body.get("metadata"),
        availability_zone=body.get("availability_zone"),
    )
    return reply({"backup": _summary(request, row)}, 202, version)


@router.post("/backups/import_record")
async def import_record(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:backups:import_record")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "backup-record")
    row = runtime.service("volume").backups.import_record(ctx, body.get("backup_service"), body.get("backup_url"))
    return reply({"backup": _summary(request, row)}, 201, version)


@router.get("/backups/{backup_id}")
def show_backup(
    project_id: str,
    backup_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:backups:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    svc = runtime.service("volume").backups
    row = svc.get(ctx, backup_id)
    return reply({"backup": _detail(request, row, version, ctx, svc.dependents([row.id]))}, 200, version)


@router.put("/backups/{backup_id}")
async def update_backup(
    project_id: str,
    backup_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:backups:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    if not version.at_least(9):
        raise BadRequest("Updating a backup needs microversion 3.9 or later.")
    body = body_of(await json_body(request), "backup")
    allowed = {"name", "description"} | ({"metadata"} if version.at_least(43) else set())
    if not body or set(body) - allowed:
        raise BadRequest(f"Invalid input received: a backup update takes only {', '.join(sorted(allowed))}.")
    svc = runtime.service("volume").backups
    row = svc.update(ctx, backup_id, body)
    out = _summary(request, row)  # Cinder's update answer: id, name, links (and metadata from 3.43)
    if version.at_least(43):
        out["metadata"] = dict(row.metadata_ or {})
    return reply({"backup": out}, 200, version)


@router.delete("/backups/{backup_id}")
def delete_backup(
    project_id: str,
    backup_id: str,
    ctx: RequestContext = Depends(authorize("volume:backups:delete")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    runtime.service("volume").backups.delete(ctx, backup_id)
    return reply(None, 202, version)


@router.post("/backups/{backup_id}/restore")
async def restore_backup(
    project_id: str,
    backup_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:backups:restore")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "restore")
    svc = runtime.service("volume").backups  # may wait for a new volume to be made: off the event loop
    result = await run_in_threadpool(svc.restore, ctx, backup_id, body.get("volume_id"), body.get("name"))
    return reply({"restore": result}, 202, version)


@router.get("/backups/{backup_id}/export_record")
def export_record(
    project_id: str,
    backup_id: str,
    ctx: RequestContext = Depends(authorize("volume:backups:export_record")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    record = runtime.service("volume").backups.export_record(ctx, backup_id)
    return reply({"backup-record": record}, 200, version)


@router.post("/backups/{backup_id}/action")
async def backup_action(
    project_id: str,
    backup_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:backups:action")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    """Admin actions: ``os-reset_status`` and ``os-force_delete``."""
    check_project(project_id, ctx)
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid input received: one backup action is expected.")
    action, args = next(iter(body.items()))
    svc = runtime.service("volume").backups
    if action == "os-reset_status":
        runtime.identity.enforce("volume:backups:reset_status", ctx)
        status = args.get("status") if isinstance(args, dict) else None
        svc.reset_status(ctx, backup_id, status)
    elif action == "os-force_delete":
        runtime.identity.enforce("volume:backups:force_delete", ctx)
        svc.delete(ctx, backup_id, force=True)
    else:
        raise BadRequest(f"There is no such action: {action}")
    return reply(None, 202, version)
