"""Nova's volume proxy APIs, served until microversion 2.35 (2.36 removed them: 404 from then
on, as Nova answers): ``os-volumes`` and ``os-snapshots``. The translation to the block
storage service is :mod:`overcast.compute.volume_proxy`."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from overcast.api.compute.common import json_body, reply, wrapped
from overcast.api.compute.microversion import MicroversionRoute
from overcast.api.compute.network_proxy import _call, _served
from overcast.api.compute.server_requests import unexpected
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute import volume_proxy as proxy
from overcast.context import RequestContext

router = ResourceRouter(route_class=MicroversionRoute)


@router.get("/v2.1/os-volumes")
@router.get("/v2.1/os-volumes/detail")
async def list_volumes(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volumes:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    params = dict(request.query_params)
    return reply({"volumes": await _call(request, proxy.list_volumes, runtime, ctx, params)})


@router.post("/v2.1/os-volumes")
async def create_volume(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volumes:create")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    _served(request)
    body = wrapped(await json_body(request), "volume")
    extra = sorted(set(body) - proxy.VOLUME_KEYS)
    if extra:
        raise unexpected(extra, "volume")
    view = await _call(request, proxy.create_volume, runtime, ctx, body)
    return reply({"volume": view}, 200, {"Location": f"{str(request.url).rstrip('/')}/{view['id']}"})


@router.get("/v2.1/os-volumes/{volume_id}")
async def show_volume(
    volume_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volumes:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"volume": await _call(request, proxy.show_volume, runtime, ctx, volume_id)})


@router.delete("/v2.1/os-volumes/{volume_id}")
async def delete_volume(
    volume_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volumes:delete")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    await _call(request, proxy.delete_volume, runtime, ctx, volume_id)
    return reply(None, 202)


@router.get("/v2.1/os-snapshots")
@router.get("/v2.1/os-snapshots/detail")
async def list_snapshots(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_snapshots:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    params = dict(request.query_params)
    return reply({"snapshots": await _call(request, proxy.list_snapshots, runtime, ctx, params)})


@router.post("/v2.1/os-snapshots")
async def create_snapshot(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_snapshots:create")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    _served(request)
    body = wrapped(await json_body(request), "snapshot")
    extra = sorted(set(body) - proxy.SNAPSHOT_KEYS)
    if extra:
        raise unexpected(extra, "snapshot")
    return reply({"snapshot": await _call(request, proxy.create_snapshot, runtime, ctx, body)})


@router.get("/v2.1/os-snapshots/{snapshot_id}")
async def show_snapshot(
    snapshot_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_snapshots:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"snapshot": await _call(request, proxy.show_snapshot, runtime, ctx, snapshot_id)})


@router.delete("/v2.1/os-snapshots/{snapshot_id}")
async def delete_snapshot(
    snapshot_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_snapshots:delete")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    await _call(request, proxy.delete_snapshot, runtime, ctx, snapshot_id)
    return reply(None, 202)
