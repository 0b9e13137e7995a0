"""``/volume/v3/{project_id}/attachments`` (Cinder's attachments API, 3.27+)."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.api.volume import views
from overcast.api.volume.common import ApiVersion, Version, all_projects, body_of, check_project, json_body, reply
from overcast.context import RequestContext
from overcast.errors import BadRequest
from overcast.runtime import Runtime

router = ResourceRouter()


def _summary(att) -> dict:  # noqa: ANN001
    return {
        "id": att.id,
        "volume_id": att.volume_id,
        "instance": att.instance_uuid,
        "status": views.attachment(att)["status"],
    }


@router.get("/attachments")
@router.get("/attachments/detail")
def list_attachments(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:attachments:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    q = request.query_params
    rows = runtime.service("volume").attachments.list(
        ctx, all_projects(request, ctx), q.get("volume_id"), q.get("instance_id")
    )
    detail = request.url.path.endswith("/detail")
    return reply({"attachments": [views.attachment(r) if detail else _summary(r) for r in rows]}, 200, version)


@router.get("/attachments/{attachment_id}")
def show_attachment(
    project_id: str,
    attachment_id: str,
    ctx: RequestContext = Depends(authorize("volume:attachments:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    return reply(
        {"attachment": views.attachment(runtime.service("volume").attachments.get(ctx, attachment_id))}, 200, version
    )


@router.post("/attachments")
async def create_attachment(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:attachments:create")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "attachment")
    volume_id = body.get("volume_uuid") or body.get("volume_id")
    if not volume_id or not body.get("instance_uuid"):
        raise BadRequest("Invalid input received: volume_uuid and instance_uuid are required.")
    att, info = runtime.service("volume").attachments.create_attachment(
        ctx, volume_id, body["instance_uuid"], body.get("connector"), body.get("mode", "rw")
    )
    return reply({"attachment": views.attachment(att, views.connection_info(info))}, 200, version)


@router.put("/attachments/{attachment_id}")
async def update_attachment(
    project_id: str,
    attachment_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:attachments:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "attachment")
    att, info = runtime.service("volume").attachments.update_attachment(ctx, attachment_id, body.get("connector"))
    return reply({"attachment": views.attachment(att, views.connection_info(info))}, 200, version)


@router.post("/attachments/{attachment_id}/action")
async def attachment_action(
    project_id: str,
    attachment_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:attachments:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = await json_body(request)
    if not isinstance(body, dict) or "os-complete" not in body:
        raise BadRequest("There is no such action: only os-complete is supported.")
    runtime.service("volume").attachments.complete_attachment(ctx, attachment_id)
    return reply(None, 204, version)


@router.delete("/attachments/{attachment_id}")
def delete_attachment(
    project_id: str,
    attachment_id: str,
    ctx: RequestContext = Depends(authorize("volume:attachments:delete")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    runtime.service("volume").attachments.delete_attachment(ctx, attachment_id)
    return reply({"attachments": []}, 200, version)
