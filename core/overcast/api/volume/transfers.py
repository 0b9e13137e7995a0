"""Volume transfers: ``/os-volume-transfer`` and (3.55+) ``/volume-transfers`` (issue 18)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

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
    reply,
    truthy,
)
from overcast.context import RequestContext
from overcast.db.models.volume_transfers import VolumeTransfer
from overcast.errors import BadRequest, NotFound
from overcast.runtime import Runtime

router = ResourceRouter()

#: Cinder 3.55: ``/volume-transfers`` with ``no_snapshots``; 3.57: project ids and ``accepted``
NEW_PATH, PROJECT_FIELDS = 55, 57


def _summary(request: Request, project_id: str, row: VolumeTransfer, path: str) -> dict[str, Any]:
    href = f"{base_url(request)}/volume/v3/{project_id}/{path}/{row.id}"
    return {"id": row.id, "name": row.name, "volume_id": row.volume_id, "links": [{"rel": "self", "href": href}]}


def _detail(
    request: Request, project_id: str, row: VolumeTransfer, path: str, version: ApiVersion, accepted: bool = False
) -> dict[str, Any]:
    out = {**_summary(request, project_id, row, path), "created_at": row.created_at.isoformat(timespec="microseconds")}
    if version.at_least(NEW_PATH):
        out["no_snapshots"] = row.no_snapshots
    if version.at_least(PROJECT_FIELDS):
        out["source_project_id"] = row.source_project_id
        out["destination_project_id"] = project_id if accepted else None
        out["accepted"] = accepted
    return out


def _path(request: Request, version: ApiVersion) -> str:
    path = "volume-transfers" if "/volume-transfers" in request.url.path else "os-volume-transfer"
    if path == "volume-transfers" and not version.at_least(NEW_PATH):
        raise NotFound("The resource could not be found.")
    return path


def _list(
    request: Request, ctx: RequestContext, runtime: Runtime, project_id: str, version: ApiVersion, detail: bool
) -> Response:
    check_project(project_id, ctx)
    path = _path(request, version)
    rows = runtime.service("volume").transfers.list(ctx, all_projects(request, ctx))
    view = _detail if detail else None
    items = [
        view(request, project_id, r, path, version) if view else _summary(request, project_id, r, path) for r in rows
    ]
    return reply({"transfers": items}, 200, version)


async def _create(
    request: Request, ctx: RequestContext, runtime: Runtime, project_id: str, version: ApiVersion
) -> Response:
    check_project(project_id, ctx)
    path = _path(request, version)
    body = body_of(await json_body(request), "transfer")
    if not body.get("volume_id"):
        raise BadRequest("Invalid input received: volume_id is required.")
    no_snapshots = truthy(body.get("no_snapshots", False)) if version.at_least(NEW_PATH) else False
    row, key = runtime.service("volume").transfers.create(ctx, body["volume_id"], body.get("name"), no_snapshots)
    return reply({"transfer": {**_detail(request, project_id, row, path, version), "auth_key": key}}, 202, version)


async def _accept(
    request: Request, ctx: RequestContext, runtime: Runtime, project_id: str, transfer_id: str, version: ApiVersion
) -> Response:
    check_project(project_id, ctx)
    path = _path(request, version)
    body = body_of(await json_body(request), "accept")
    row = runtime.service("volume").transfers.accept(ctx, transfer_id, body.get("auth_key"))
    return reply({"transfer": _summary(request, project_id, row, path)}, 202, version)


for _prefix in ("/os-volume-transfer", "/volume-transfers"):

    @router.get(_prefix)
    def list_transfers(
        project_id: str,
        request: Request,
        ctx: RequestContext = Depends(authorize("volume:transfers:list")),
        runtime: Runtime = Depends(get_runtime),
        version: ApiVersion = Version,
    ) -> Response:
        return _list(request, ctx, runtime, project_id, version, detail=False)

    @router.get(_prefix + "/detail")
    def list_transfers_detail(
        project_id: str,
        request: Request,
        ctx: RequestContext = Depends(authorize("volume:transfers:list")),
        runtime: Runtime = Depends(get_runtime),
        version: ApiVersion = Version,
    ) -> Response:
        return _list(request, ctx, runtime, project_id, version, detail=True)

    @router.post(_prefix)
    async def create_transfer(
        project_id: str,
        request: Request,
        ctx: RequestContext = Depends(authorize("volume:transfers:create")),
        runtime: Runtime = Depends(get_runtime),
        version: ApiVersion = Version,
    ) -> Response:
        return await _create(request, ctx, runtime, project_id, version)

    @router.get(_prefix + "/{transfer_id}")
    def show_transfer(
        project_id: str,
        transfer_id: str,
        request: Request,
        ctx: RequestContext = Depends(authorize("volume:transfers:show")),
        runtime: Runtime = Depends(get_runtime),
        version: ApiVersion = Version,
    ) -> Response:
        check_project(project_id, ctx)
        row = runtime.service("volume").transfers.get(ctx, transfer_id)
        return reply({"transfer": _detail(request, project_id, row, _path(request, version), version)}, 200, version)

    @router.delete(_prefix + "/{transfer_id}")
    def delete_transfer(
        project_id: str,
        transfer_id: str,
        request: Request,
        ctx: RequestContext = Depends(authorize("volume:transfers:delete")),
        runtime: Runtime = Depends(get_runtime),
        version: ApiVersion = Version,
    ) -> Response:
        check_project(project_id, ctx)
        _path(request, version)
        runtime.service("volume").transfers.delete(ctx, transfer_id)
        return reply(None, 202, version)

    @router.post(_prefix + "/{transfer_id}/accept")
    async def accept_transfer(
        project_id: str,
        transfer_id: str,
        request: Request,
        ctx: RequestContext = Depends(authorize("volume:transfers:accept")),
        runtime: Runtime = Depends(get_runtime),
        version: ApiVersion = Version,
    ) -> Response:
        return await _accept(request, ctx, runtime, project_id, transfer_id, version)
