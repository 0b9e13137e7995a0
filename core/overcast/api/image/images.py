"""Image records: create, list, show, JSON-patch update, delete, actions, tags, stores."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from overcast.api.deps import authorize, get_runtime
from overcast.api.image.common import (
    PATCH_MEDIA_TYPE,
    PATCH_MEDIA_TYPE_V20,
    UnsupportedMediaType,
    json_body,
    json_response,
    no_content,
    patch_operations,
)
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.runtime import Runtime
from overcast.validation import check_name

router = ResourceRouter(prefix="/v2")


@router.post("/images")
async def create_image(
    request: Request,
    ctx: RequestContext = Depends(authorize("image:images:create")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    view = await run_in_threadpool(runtime.image.create, ctx, await json_body(request))
    return json_response(view, status=201, headers={"Location": f"{request.url}/{view['id']}"})


@router.get("/images")
def list_images(
    request: Request,
    ctx: RequestContext = Depends(authorize("image:images:list")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    params = dict(request.query_params)
    multi = {key: request.query_params.getlist(key) for key in request.query_params}
    views, next_marker = runtime.image.list(ctx, params, multi)
    body = {"images": views, "first": "/v2/images", "schema": "/v2/schemas/images"}
    if next_marker:
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
        body["next"] = "/v2/images?" + urlencode([*rest, ("marker", next_marker)])
    return json_response(body)


@router.api_route("/images/", methods=["GET", "PATCH", "DELETE"], include_in_schema=False)
def image_without_id(ctx: RequestContext = Depends(authorize("image:images:show"))) -> Response:
    """``/v2/images/`` names an image with an empty id, which no image has (Glance: 404)."""
    from overcast.errors import NotFound

    raise NotFound("No image found with ID ")


@router.get("/images/{image_id}")
def show_image(
    image_id: str,
    ctx: RequestContext = Depends(authorize("image:images:show")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    return json_response(runtime.image.show(ctx, image_id))


@router.patch("/images/{image_id}")
async def update_image(
    image_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("image:images:update")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip()
    if media not in (PATCH_MEDIA_TYPE, PATCH_MEDIA_TYPE_V20):
        raise UnsupportedMediaType(f"Unsupported Content-Type: use {PATCH_MEDIA_TYPE}")
    ops = patch_operations(media, await json_body(request))
    for op in ops if isinstance(ops, list) else ():
        if isinstance(op, dict) and op.get("path") == "/name":  # JSON-patch carries the name as "value"
            check_name(op.get("value"))
    return json_response(await run_in_threadpool(runtime.image.update, ctx, image_id, ops))


@router.delete("/images/{image_id}")
def delete_image(
    image_id: str,
    ctx: RequestContext = Depends(authorize("image:images:delete")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.image.delete(ctx, image_id)
    return no_content()


@router.post("/images/{image_id}/actions/deactivate")
def deactivate_image(
    image_id: str,
    ctx: RequestContext = Depends(authorize("image:images:deactivate")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.image.deactivate(ctx, image_id)
    return no_content()


@router.post("/images/{image_id}/actions/reactivate")
def reactivate_image(
    image_id: str,
    ctx: RequestContext = Depends(authorize("image:images:reactivate")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.image.reactivate(ctx, image_id)
    return no_content()


@router.put("/images/{image_id}/tags/{tag}")
def add_tag(
    image_id: str,
    tag: str,
    ctx: RequestContext = Depends(authorize("image:tags:create")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.image.add_tag(ctx, image_id, tag)
    return no_content()


@router.delete("/images/{image_id}/tags/{tag}")
def delete_tag(
    image_id: str,
    tag: str,
    ctx: RequestContext = Depends(authorize("image:tags:delete")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.image.remove_tag(ctx, image_id, tag)
    return no_content()


@router.get("/info/stores")
def list_stores(
    ctx: RequestContext = Depends(authorize("image:stores:list")),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    return json_response({"stores": runtime.image.stores()})


@router.get("/schemas/metadefs/{name}")
def show_metadef_schema(name: str, ctx: RequestContext = Depends(authorize("image:schemas:show"))) -> Response:
    from overcast.api.image.schemas import metadef_schema

    return json_response(metadef_schema(name))


@router.get("/schemas/{name}")
def show_schema(name: str, ctx: RequestContext = Depends(authorize("image:schemas:show"))) -> Response:
    from overcast.api.image.schemas import schema

    return json_response(schema(name))
