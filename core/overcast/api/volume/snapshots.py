"""``/volume/v3/{project_id}/snapshots``."""

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
from overcast.errors import BadRequest
from overcast.runtime import Runtime

router = ResourceRouter()


def _list(
    request: Request, ctx: RequestContext, runtime: Runtime, project_id: str, version: ApiVersion, detail: bool
) -> Response:
    check_project(project_id, ctx)
    marker, limit = paging(request)
    q = request.query_params
    filters = {"name": q.get("name"), "status": q.get("status"), "volume_id": q.get("volume_id")}
    rows = runtime.service("volume").snapshots.list(
        ctx, filters, all_projects(request, ctx), marker, limit, sort_keys(request), offset_of(request)
    )
    body: dict[str, Any] = {"snapshots": [views.snapshot(r, version.minor, detail) for r in rows]}
    if limit is not None and rows and len(rows) == limit:
        path = f"{base_url(request)}/volume/v3/{project_id}/snapshots{'/detail' if detail else ''}"
        body["snapshots_links"] = [{"rel": "next", "href": f"{path}?limit={limit}&marker={rows[-1].id}"}]
    return reply(body, 200, version)


@router.get("/snapshots")
def list_snapshots(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:snapshots:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    return _list(request, ctx, runtime, project_id, version, detail=False)


@router.get("/snapshots/detail")
def list_snapshots_detail(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:snapshots:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    return _list(request, ctx, runtime, project_id, version, detail=True)


@router.post("/snapshots")
async def create_snapshot(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:snapshots:create")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "snapshot")
    row = runtime.service("volume").snapshots.create(
        ctx,
        body.get("volume_id") or "",
        name=body.get("name", body.get("display_name")),
        description=body.get("description", body.get("display_description")),
        force=truthy(body.get("force", False)),
        metadata=body.get("metadata"),
    )
    return reply({"snapshot": views.snapshot(row, version.minor, detail=False)}, 202, version)


@router.get("/snapshots/{snapshot_id}")
def show_snapshot(
    project_id: str,
    snapshot_id: str,
    ctx: RequestContext = Depends(authorize("volume:snapshots:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    row = runtime.service("volume").snapshots.get(ctx, snapshot_id)
    return reply({"snapshot": views.snapshot(row, version.minor)}, 200, version)


@router.put("/snapshots/{snapshot_id}")
async def update_snapshot(
    project_id: str,
    snapshot_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:snapshots:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "snapshot")
    changes = {k: body[k] for k in ("name", "description", "metadata") if k in body}
    row = runtime.service("volume").snapshots.update(ctx, snapshot_id, changes)
    return reply({"snapshot": views.snapshot(row, version.minor, detail=False)}, 200, version)


@router.delete("/snapshots/{snapshot_id}")
def delete_snapshot(
    project_id: str,
    snapshot_id: str,
    ctx: RequestContext = Depends(authorize("volume:snapshots:delete")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    runtime.service("volume").snapshots.delete(ctx, snapshot_id)
    return reply(None, 202, version)


#: snapshot actions and the policy each needs beyond ``volume:snapshots:action``
SNAPSHOT_ADMIN_ACTIONS = {
    "os-reset_status": "volume:snapshots:reset_status",
    "os-force_delete": "volume:snapshots:force_delete",
}


@router.post("/snapshots/{snapshot_id}/action")
async def snapshot_action(
    project_id: str,
    snapshot_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:snapshots:action")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    """os-reset_status and os-force_delete (admins), os-update_snapshot_status."""
    check_project(project_id, ctx)
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid request body: exactly one action is expected.")
    name, args = next(iter(body.items()))
    args = args if isinstance(args, dict) else {}
    if name in SNAPSHOT_ADMIN_ACTIONS:
        runtime.identity.enforce(SNAPSHOT_ADMIN_ACTIONS[name], ctx)
    snapshots = runtime.service("volume").snapshots
    if name == "os-reset_status":
        snapshots.reset_status(ctx, snapshot_id, args.get("status"))
    elif name == "os-update_snapshot_status":
        snapshots.update_status(ctx, snapshot_id, args.get("status"), args.get("progress"))
    elif name == "os-force_delete":
        snapshots.force_delete(ctx, snapshot_id)
    else:
        raise BadRequest(f"There is no such action: {name}")
    return reply(None, 202, version)
