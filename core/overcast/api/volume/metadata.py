"""``/volumes/{id}/metadata`` and ``/snapshots/{id}/metadata``: the whole (``GET``, ``POST``
merges, ``PUT`` replaces) and one item (``GET``/``PUT``/``DELETE`` ``/metadata/{key}``), the
same for both resources, over their managers' ``get``, ``set_metadata`` and
``delete_metadata_key``."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.api.volume.common import ApiVersion, Version, check_project, json_body, reply
from overcast.context import RequestContext
from overcast.errors import BadRequest, NotFound
from overcast.runtime import Runtime

router = ResourceRouter()


def _wrapped(body: Any, key: str) -> dict:
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"Missing required element '{key}' in request body.")
    return body[key]


def _routes(collection: str, rule: str, manager: Any, what: str) -> None:
    base = f"/{collection}/{{item_id}}/metadata"

    @router.get(base, name=f"{collection}_metadata")
    def get_all(
        project_id: str,
        item_id: str,
        ctx: RequestContext = Depends(authorize(f"volume:{rule}:show")),
        runtime: Runtime = Depends(get_runtime),
        version: ApiVersion = Version,
    ) -> Response:
        check_project(project_id, ctx)
        return reply({"metadata": dict(manager(runtime).get(ctx, item_id).metadata_ or {})}, 200, version)

    @router.post(base, name=f"{collection}_metadata_merge")
    @router.put(base, name=f"{collection}_metadata_replace")
    async def set_all(
        project_id: str,
        item_id: str,
        request: Request,
        ctx: RequestContext = Depends(authorize(f"volume:{rule}:update")),
        runtime: Runtime = Depends(get_runtime),
        version: ApiVersion = Version,
    ) -> Response:
        check_project(project_id, ctx)
        items = _wrapped(await json_body(request), "metadata")
        meta = manager(runtime).set_metadata(ctx, item_id, items, replace=request.method == "PUT")
        return reply({"metadata": meta}, 200, version)

    @router.get(base + "/{key}", name=f"{collection}_metadata_item")
    def get_item(
        project_id: str,
        item_id: str,
        key: str,
        ctx: RequestContext = Depends(authorize(f"volume:{rule}:show")),
        runtime: Runtime = Depends(get_runtime),
        version: ApiVersion = Version,
    ) -> Response:
        check_project(project_id, ctx)
        meta = manager(runtime).get(ctx, item_id).metadata_ or {}
        if key not in meta:
            raise NotFound(f"{what} {item_id} has no metadata with key {key}.")
        return reply({"meta": {key: meta[key]}}, 200, version)

    @router.put(base + "/{key}", name=f"{collection}_metadata_item_set")
    async def set_item(
        project_id: str,
        item_id: str,
        key: str,
        request: Request,
        ctx: RequestContext = Depends(authorize(f"volume:{rule}:update")),
        runtime: Runtime = Depends(get_runtime),
        version: ApiVersion = Version,
    ) -> Response:
        check_project(project_id, ctx)
        item = _wrapped(await json_body(request), "meta")
        if not isinstance(item, dict) or len(item) != 1:
            raise BadRequest("Request body contains too many items.")
        if key not in item:
            raise BadRequest("Request body and URI mismatch.")
        manager(runtime).set_metadata(ctx, item_id, item, replace=False)
        return reply({"meta": item}, 200, version)

    @router.delete(base + "/{key}", name=f"{collection}_metadata_item_delete")
    def delete_item(
        project_id: str,
        item_id: str,
        key: str,
        ctx: RequestContext = Depends(authorize(f"volume:{rule}:update")),
        runtime: Runtime = Depends(get_runtime),
        version: ApiVersion = Version,
    ) -> Response:
        check_project(project_id, ctx)
        manager(runtime).delete_metadata_key(ctx, item_id, key)
        return reply(None, 200, version)


_routes("volumes", "volumes", lambda runtime: runtime.service("volume").volumes, "Volume")
_routes("snapshots", "snapshots", lambda runtime: runtime.service("volume").snapshots, "Snapshot")
