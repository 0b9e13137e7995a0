"""``GET /v2/images/{image_id}/tasks`` (Glance 2.12, issue 16): the tasks that worked on an
image. Tasks are Glance's image import; this image service does no import (uploads are
direct), so no task ever works on an image and the list is empty; an image the caller
cannot see is a 404, as for ``GET /v2/images/{image_id}``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.image.common import json_response
from overcast.context import RequestContext
from overcast.runtime import Runtime

router = APIRouter()


@router.get("/v2/images/{image_id}/tasks")
def list_image_tasks(
    image_id: str,
    ctx: RequestContext = Depends(authorize("image:images:show")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.image.show(ctx, image_id)  # 404 for an image the caller cannot see
    return json_response({"tasks": []})
