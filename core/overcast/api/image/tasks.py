"""Interoperable image import (``/v2/info/import``, ``PUT .../stage``, ``POST .../import``)
and the tasks that record imports (``/v2/images/{id}/tasks``, ``/v2/tasks``)."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from overcast.api.deps import authorize, get_runtime
from overcast.api.image.body import consume_body
from overcast.api.image.common import UnsupportedMediaType, json_body, json_response, no_content
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.runtime import Runtime

router = ResourceRouter(prefix="/v2")


@router.get("/info/import")
def import_info(
    ctx: RequestContext = Depends(authorize("image:import_info:show")), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response(runtime.image.import_info())


@router.put("/images/{image_id}/stage")
async def stage_data(
    image_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("image:images:upload")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    media = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
    if media != "application/octet-stream":
        raise UnsupportedMediaType(f"Unsupported Content-Type {media!r} for image data: use application/octet-stream.")
    await consume_body(request, lambda chunks: runtime.image.stage(ctx, image_id, chunks))
    return no_content()


@router.post("/images/{image_id}/import")
async def import_image(
    image_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("image:images:import")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    await run_in_threadpool(runtime.image.import_image, ctx, image_id, await json_body(request))
    return Response(status_code=202, headers={"Content-Length": "0"})


@router.get("/images/{image_id}/tasks")
def image_tasks(
    image_id: str,
    ctx: RequestContext = Depends(authorize("image:image_tasks:list")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    return json_response({"tasks": runtime.image.image_tasks(ctx, image_id)})


@router.get("/tasks")
def list_tasks(
    ctx: RequestContext = Depends(authorize("image:tasks:list")), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response(
        {"tasks": runtime.image.importer.list_tasks(ctx), "first": "/v2/tasks", "schema": "/v2/schemas/tasks"}
    )


@router.post("/tasks")
async def create_task(
    request: Request,
    ctx: RequestContext = Depends(authorize("image:tasks:create")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    task = await run_in_threadpool(runtime.image.create_task, ctx, await json_body(request))
    return json_response(task, status=201)


@router.get("/tasks/{task_id}")
def show_task(
    task_id: str, ctx: RequestContext = Depends(authorize("image:tasks:show")), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response(runtime.image.importer.show_task(ctx, task_id))
