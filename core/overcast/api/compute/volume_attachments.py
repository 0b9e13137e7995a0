"""``/servers/{id}/os-volume_attachments``: attach, list, show, swap and detach."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from overcast.api.compute.common import json_body, reply, wrapped
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.compute.server_requests import unexpected
from overcast.api.compute.views import (
    attachment_view,
)
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute.os_hosts import FeatureNotSupported
from overcast.context import RequestContext
from overcast.errors import BadRequest

#: where clients put scheduler hints: the openstack CLI and openstacksdk send the second
HINT_KEYS = ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")

router = ResourceRouter(route_class=MicroversionRoute)

# --- volume attachments --------------------------------------------------------------------------


@router.get("/v2.1/servers/{server_id}/os-volume_attachments")
def list_attachments(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_attachments:list")),
    runtime=Depends(get_runtime),
):
    version = version_of(request)
    bdms = runtime.compute.volumes.list(ctx, server_id)
    return reply({"volumeAttachments": [attachment_view(b, version) for b in bdms]})


@router.post("/v2.1/servers/{server_id}/os-volume_attachments")
async def attach_volume(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_attachments:create")),
    runtime=Depends(get_runtime),
):
    """``volumeId`` and ``device``; a device ``tag`` from 2.49 (refused: guests are not shown
    device tags here) and ``delete_on_termination`` from 2.79."""
    body = wrapped(await json_body(request), "volumeAttachment")
    version = version_of(request)
    allowed = {"volumeId", "device"} | ({"tag"} if version >= (2, 49) else set())
    allowed |= {"delete_on_termination"} if version >= (2, 79) else set()
    extra = sorted(set(body) - allowed)
    if extra:
        raise unexpected(extra, "volumeAttachment")
    if "tag" in body:
        raise BadRequest("Tagged volume attachment is not supported for this server instance.")
    delete = body.get("delete_on_termination", False)
    if not isinstance(delete, bool):
        raise BadRequest(f"Invalid input for field/attribute delete_on_termination. Value: {delete}.")
    from starlette.concurrency import run_in_threadpool

    if version < (2, 60):
        await run_in_threadpool(_refuse_multiattach, runtime, ctx, body.get("volumeId"))

    bdm = await run_in_threadpool(
        runtime.compute.volumes.attach, ctx, server_id, body.get("volumeId"), body.get("device"), delete, version
    )
    return reply({"volumeAttachment": attachment_view(bdm, version)})


def _refuse_multiattach(runtime: Any, ctx: RequestContext, volume_id: Any) -> None:
    """Before 2.60 Nova attaches no multiattach volume (even one attached nowhere)."""
    from overcast.compute.peers import optional_service

    svc = optional_service(runtime, "volume")
    if svc is None or not isinstance(volume_id, str) or not volume_id:
        return  # the attach itself answers these
    if getattr(svc.get_volume(ctx, volume_id), "multiattach", False):
        raise BadRequest("Multiattach volumes are only supported starting with compute API version 2.60.")


@router.get("/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}")
def show_attachment(
    server_id: str,
    volume_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_attachments:show")),
    runtime=Depends(get_runtime),
):
    bdm = runtime.compute.volumes.get(ctx, server_id, volume_id)
    return reply({"volumeAttachment": attachment_view(bdm, version_of(request))})


@router.put("/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}")
async def swap_volume(
    server_id: str,
    volume_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_attachments:swap")),
    runtime=Depends(get_runtime),
):
    """Nova's swap volume (issue 16): checked as Nova checks it -- the server, the attached
    volume in the path (404) and the new one in the body (400) -- then refused with Nova's
    501: no hypervisor driver here copies a guest's disk onto another volume live."""
    from starlette.concurrency import run_in_threadpool

    body = wrapped(await json_body(request), "volumeAttachment")
    await run_in_threadpool(runtime.compute.volumes.check_swap, ctx, server_id, volume_id, body)
    raise FeatureNotSupported("The requested functionality is not supported.")


@router.delete("/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}")
def detach_volume(
    server_id: str,
    volume_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_attachments:delete")),
    runtime=Depends(get_runtime),
):
    runtime.compute.volumes.detach(ctx, server_id, volume_id, version_of(request))
    return reply(None, 202)
