"""``/volume/v3/{project_id}/messages`` (3.3+): user messages about failed requests."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.api.volume import views
from overcast.api.volume.common import ApiVersion, Version, base_url, check_project, reply
from overcast.api.volume.groups import need
from overcast.context import RequestContext
from overcast.db.models.volume import VolumeMessage
from overcast.runtime import Runtime

router = ResourceRouter()


def _view(row: VolumeMessage, request: Request) -> dict[str, Any]:
    return {
        "id": row.id,
        "request_id": row.request_id,
        "resource_type": row.resource_type,
        "resource_uuid": row.resource_uuid,
        "event_id": row.event_id,
        "message_level": row.message_level,
        "user_message": row.user_message,
        "created_at": views.iso(row.created_at),
        "guaranteed_until": views.iso(row.expires_at),
        "links": views.links(base_url(request), row.project_id, "messages", row.id),
    }


@router.get("/messages")
def list_messages(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:messages:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 3)
    with runtime.db.session() as s:
        rows = runtime.service("volume").parts.messages.all(s, ctx)
        return reply({"messages": [_view(r, request) for r in rows]}, 200, version)


@router.get("/messages/{message_id}")
def show_message(
    project_id: str,
    message_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:messages:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 3)
    with runtime.db.session() as s:
        row = runtime.service("volume").parts.messages.get(s, ctx, message_id)
        return reply({"message": _view(row, request)}, 200, version)


@router.delete("/messages/{message_id}")
def delete_message(
    project_id: str,
    message_id: str,
    ctx: RequestContext = Depends(authorize("volume:messages:delete")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    need(version, 3)
    with runtime.db.session() as s:
        runtime.service("volume").parts.messages.delete(s, ctx, message_id)
    return reply(None, 204, version)
