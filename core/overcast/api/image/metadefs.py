"""The metadata definitions catalog: ``/v2/metadefs/...`` (namespaces, their objects,
properties, tags and resource type associations, and the resource types)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from overcast.api.deps import authorize, get_runtime
from overcast.api.image.common import json_body, json_response, no_content
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.image import metadefs as md
from overcast.runtime import Runtime

router = ResourceRouter(prefix="/v2/metadefs")
NS = "/namespaces/{namespace}"

READ = authorize("image:metadefs:show")
LIST = authorize("image:metadefs:list")
CREATE = authorize("image:metadefs:create")
UPDATE = authorize("image:metadefs:update")
DELETE = authorize("image:metadefs:delete")


def _in_session(runtime: Runtime, fn: Callable[..., Any], *args: Any) -> Any:
    with runtime.db.session() as s:
        return fn(s, *args)


async def _run(runtime: Runtime, fn: Callable[..., Any], *args: Any) -> Any:
    return await run_in_threadpool(_in_session, runtime, fn, *args)


# --- namespaces ------------------------------------------------------------------------------


@router.get("/namespaces")
async def list_namespaces(
    request: Request, ctx: RequestContext = Depends(LIST), runtime: Runtime = Depends(get_runtime)
) -> Response:
    params = dict(request.query_params)
    views, next_marker = await _run(runtime, md.list_namespaces, ctx, params)
    body: dict[str, Any] = {
        "namespaces": views,
        "first": "/v2/metadefs/namespaces",
        "schema": "/v2/schemas/metadefs/namespaces",
    }
    if next_marker:
        body["next"] = f"/v2/metadefs/namespaces?marker={next_marker}"
    return json_response(body)


@router.post("/namespaces")
async def create_namespace(
    request: Request, ctx: RequestContext = Depends(CREATE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response(await _run(runtime, md.create_namespace, ctx, await json_body(request)), status=201)


@router.get(NS)
async def show_namespace(
    namespace: str, ctx: RequestContext = Depends(READ), runtime: Runtime = Depends(get_runtime)
) -> Response:
    def show(s: Any) -> dict[str, Any]:
        return md.namespace_view(md.get_namespace(s, ctx, namespace), detail=True)

    return json_response(await run_in_threadpool(_in_session, runtime, show))


@router.put(NS)
async def update_namespace(
    namespace: str, request: Request, ctx: RequestContext = Depends(UPDATE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response(await _run(runtime, md.update_namespace, ctx, namespace, await json_body(request)))


@router.delete(NS)
async def delete_namespace(
    namespace: str, ctx: RequestContext = Depends(DELETE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    await _run(runtime, md.delete_namespace, ctx, namespace)
    return no_content()


# --- objects ---------------------------------------------------------------------------------


@router.get(NS + "/objects")
async def list_objects(
    namespace: str, ctx: RequestContext = Depends(LIST), runtime: Runtime = Depends(get_runtime)
) -> Response:
    objects = await _run(runtime, md.list_objects, ctx, namespace)
    return json_response({"objects": objects, "schema": "v2/schemas/metadefs/objects"})


@router.post(NS + "/objects")
async def create_object(
    namespace: str, request: Request, ctx: RequestContext = Depends(CREATE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response(await _run(runtime, md.create_object, ctx, namespace, await json_body(request)), status=201)


@router.delete(NS + "/objects")
async def delete_objects(
    namespace: str, ctx: RequestContext = Depends(DELETE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    await _run(runtime, md.delete_contents, ctx, namespace, "objects")
    return no_content()


@router.get(NS + "/objects/{name}")
async def show_object(
    namespace: str, name: str, ctx: RequestContext = Depends(READ), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response(await _run(runtime, md.show_object, ctx, namespace, name))


@router.put(NS + "/objects/{name}")
async def update_object(
    namespace: str,
    name: str,
    request: Request,
    ctx: RequestContext = Depends(UPDATE),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    return json_response(await _run(runtime, md.update_object, ctx, namespace, name, await json_body(request)))


@router.delete(NS + "/objects/{name}")
async def delete_object(
    namespace: str, name: str, ctx: RequestContext = Depends(DELETE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    await _run(runtime, md.delete_object, ctx, namespace, name)
    return no_content()


# --- properties ------------------------------------------------------------------------------


@router.get(NS + "/properties")
async def list_properties(
    namespace: str, ctx: RequestContext = Depends(LIST), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response({"properties": await _run(runtime, md.list_properties, ctx, namespace)})


@router.post(NS + "/properties")
async def create_property(
    namespace: str, request: Request, ctx: RequestContext = Depends(CREATE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response(await _run(runtime, md.create_property, ctx, namespace, await json_body(request)), status=201)


@router.delete(NS + "/properties")
async def delete_properties(
    namespace: str, ctx: RequestContext = Depends(DELETE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    await _run(runtime, md.delete_contents, ctx, namespace, "properties")
    return no_content()


@router.get(NS + "/properties/{name}")
async def show_property(
    namespace: str,
    name: str,
    request: Request,
    ctx: RequestContext = Depends(READ),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    resource_type = request.query_params.get("resource_type")
    return json_response(await _run(runtime, md.show_property, ctx, namespace, name, resource_type))


@router.put(NS + "/properties/{name}")
async def update_property(
    namespace: str,
    name: str,
    request: Request,
    ctx: RequestContext = Depends(UPDATE),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    return json_response(await _run(runtime, md.update_property, ctx, namespace, name, await json_body(request)))


@router.delete(NS + "/properties/{name}")
async def delete_property(
    namespace: str, name: str, ctx: RequestContext = Depends(DELETE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    await _run(runtime, md.delete_property, ctx, namespace, name)
    return no_content()


# --- tags ------------------------------------------------------------------------------------


@router.get(NS + "/tags")
async def list_tags(
    namespace: str, ctx: RequestContext = Depends(LIST), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response({"tags": await _run(runtime, md.list_tags, ctx, namespace)})


@router.post(NS + "/tags")
async def create_tags(
    namespace: str, request: Request, ctx: RequestContext = Depends(CREATE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    append = request.headers.get("x-openstack-append", "false").lower() == "true"
    tags = await _run(runtime, md.create_tags, ctx, namespace, await json_body(request), append)
    return json_response({"tags": tags}, status=201)


@router.delete(NS + "/tags")
async def delete_tags(
    namespace: str, ctx: RequestContext = Depends(DELETE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    await _run(runtime, md.delete_contents, ctx, namespace, "tags")
    return no_content()


@router.post(NS + "/tags/{name}")
async def create_tag(
    namespace: str, name: str, ctx: RequestContext = Depends(CREATE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response(await _run(runtime, md.create_tag, ctx, namespace, name), status=201)


@router.get(NS + "/tags/{name}")
async def show_tag(
    namespace: str, name: str, ctx: RequestContext = Depends(READ), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response(await _run(runtime, md.show_tag, ctx, namespace, name))


@router.put(NS + "/tags/{name}")
async def update_tag(
    namespace: str,
    name: str,
    request: Request,
    ctx: RequestContext = Depends(UPDATE),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    return json_response(await _run(runtime, md.update_tag, ctx, namespace, name, await json_body(request)))


@router.delete(NS + "/tags/{name}")
async def delete_tag(
    namespace: str, name: str, ctx: RequestContext = Depends(DELETE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    await _run(runtime, md.delete_tag, ctx, namespace, name)
    return no_content()


# --- resource types --------------------------------------------------------------------------


@router.get("/resource_types")
async def list_resource_types(ctx: RequestContext = Depends(LIST), runtime: Runtime = Depends(get_runtime)) -> Response:
    return json_response({"resource_types": await _run(runtime, md.list_resource_types)})


@router.get(NS + "/resource_types")
async def list_associations(
    namespace: str, ctx: RequestContext = Depends(LIST), runtime: Runtime = Depends(get_runtime)
) -> Response:
    return json_response({"resource_type_associations": await _run(runtime, md.list_associations, ctx, namespace)})


@router.post(NS + "/resource_types")
async def create_association(
    namespace: str, request: Request, ctx: RequestContext = Depends(CREATE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    body = await json_body(request)
    return json_response(await _run(runtime, md.create_association, ctx, namespace, body), status=201)


@router.delete(NS + "/resource_types/{name}")
async def delete_association(
    namespace: str, name: str, ctx: RequestContext = Depends(DELETE), runtime: Runtime = Depends(get_runtime)
) -> Response:
    await _run(runtime, md.delete_association, ctx, namespace, name)
    return no_content()
