"""``/images``: Nova's image proxy (a view of Glance's images in Nova's shape), served up to
microversion 2.35 as Nova does (it answers 404 from 2.36). Metadata is Glance's custom
properties; changes go through the image service's JSON-patch, so Glance's rules apply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request

from overcast.api.compute.common import base_url, json_body, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.errors import BadRequest, NotFound
from overcast.image.constants import VIEW_FIELDS
from overcast.image.listing import MAX_LIMIT

router = ResourceRouter(route_class=MicroversionRoute)

#: Glance status -> (Nova status, progress)
_STATUS = {
    "queued": ("SAVING", 25),
    "saving": ("SAVING", 50),
    "uploading": ("SAVING", 50),
    "importing": ("SAVING", 50),
    "active": ("ACTIVE", 100),
    "killed": ("ERROR", 0),
    "deleted": ("DELETED", 0),
    "pending_delete": ("DELETED", 0),
    "deactivated": ("ERROR", 0),
}


def _served(request: Request) -> None:
    if version_of(request) >= (2, 36):
        raise NotFound("The resource could not be found.")


def _image_service(runtime: Any) -> Any:
    from overcast.compute.peers import optional_service

    svc = optional_service(runtime, "image")
    if svc is None:
        raise NotFound("The resource could not be found.")
    return svc


def _links(request: Request, image_id: str) -> list[dict]:
    base = base_url(request)
    return [
        {"rel": "self", "href": f"{base}/compute/v2.1/images/{image_id}"},
        {"rel": "bookmark", "href": f"{base}/compute/images/{image_id}"},
        {"rel": "alternate", "type": "application/vnd.openstack.image", "href": f"{base}/image/images/{image_id}"},
    ]


def metadata_of(view: dict) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k not in VIEW_FIELDS}


def image_view(request: Request, view: dict, detail: bool = True) -> dict:
    """A Glance image view in Nova's shape."""
    out: dict[str, Any] = {"id": view["id"], "name": view.get("name"), "links": _links(request, view["id"])}
    if not detail:
        return out
    status, progress = _STATUS.get(view["status"], ("UNKNOWN", 0))
    meta = metadata_of(view)
    out.update(
        {
            "status": status,
            "progress": progress,
            "minDisk": view.get("min_disk") or 0,
            "minRam": view.get("min_ram") or 0,
            "created": view.get("created_at"),
            "updated": view.get("updated_at"),
            "metadata": meta,
            "OS-EXT-IMG-SIZE:size": view.get("size"),
        }
    )
    server = meta.get("instance_uuid")
    if server:
        base = base_url(request)
        out["server"] = {
            "id": server,
            "links": [
                {"rel": "self", "href": f"{base}/compute/v2.1/servers/{server}"},
                {"rel": "bookmark", "href": f"{base}/compute/servers/{server}"},
            ],
        }
    return out


def _at_least(field: str, floor: int) -> Callable[[dict[str, Any]], bool]:
    return lambda view: int(view.get(field) or 0) >= floor


def _post_filters(q: Any) -> Any:
    """Nova's ``changes-since``, ``minRam`` and ``minDisk`` as one predicate over image views
    (``None`` when none is asked for)."""
    checks: list[Callable[[dict[str, Any]], bool]] = []
    if "changes-since" in q:
        from overcast.compute.server_fields import parse_time

        since = parse_time(q["changes-since"], "changes-since")
        checks.append(lambda v: (v.get("updated_at") or "") >= since.strftime("%Y-%m-%dT%H:%M:%SZ"))
    for key, field in (("minRam", "min_ram"), ("minDisk", "min_disk")):
        if key in q:
            try:
                floor = int(q[key])
            except ValueError:
                raise BadRequest(f"Invalid {key} filter: {q[key]!r} is not an integer.") from None
            checks.append(_at_least(field, floor))
    if not checks:
        return None
    return lambda v: all(check(v) for check in checks)


def _list(request: Request, ctx: RequestContext, runtime: Any, detail: bool) -> Any:
    _served(request)
    q = request.query_params
    unknown = sorted(
        set(q) - {"limit", "marker", "name", "status", "server", "type", "changes-since", "minRam", "minDisk"}
    )
    if unknown:
        raise BadRequest(f"Image filter(s) {', '.join(unknown)} are not supported here; use the image API.")
    params = {k: q[k] for k in ("limit", "marker", "name") if k in q}
    if "status" in q:
        params["status"] = q["status"].lower()
    # Nova's proxy filters: a server's snapshots and backups are image properties
    if "server" in q:
        params["instance_uuid"] = q["server"].rstrip("/").rsplit("/", 1)[-1]
    if "type" in q:
        params["image_type"] = q["type"]
    wanted = _post_filters(q)
    if wanted is None:
        views, next_marker = _image_service(runtime).list(ctx, params)
    else:  # filtered here: every match, then the page
        limit = params.pop("limit", None)
        views, _ = _image_service(runtime).list(ctx, {**params, "limit": str(MAX_LIMIT)})
        views = [v for v in views if wanted(v)]
        next_marker = None
        if limit is not None and len(views) > int(limit):
            views = views[: int(limit)]
            next_marker = views[-1]["id"]
    out: dict[str, Any] = {"images": [image_view(request, v, detail) for v in views]}
    if next_marker:
        path = "images/detail" if detail else "images"
        out["images_links"] = [
            {
                "rel": "next",
                "href": f"{base_url(request)}/compute/v2.1/{path}?limit={q.get('limit')}&marker={next_marker}",
            }
        ]
    return reply(out)


@router.get("/v2.1/images")
def list_images(
    request: Request, ctx: RequestContext = Depends(authorize("compute:images:list")), runtime=Depends(get_runtime)
):
    return _list(request, ctx, runtime, detail=False)


@router.get("/v2.1/images/detail")
def list_images_detail(
    request: Request, ctx: RequestContext = Depends(authorize("compute:images:list")), runtime=Depends(get_runtime)
):
    return _list(request, ctx, runtime, detail=True)


@router.get("/v2.1/images/{image_id}")
def show_image(
    image_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:images:show")),
    runtime=Depends(get_runtime),
):
    _served(request)
    return reply({"image": image_view(request, _image_service(runtime).show(ctx, image_id))})


@router.delete("/v2.1/images/{image_id}")
def delete_image(
    image_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:images:delete")),
    runtime=Depends(get_runtime),
):
    _served(request)
    _image_service(runtime).delete(ctx, image_id)
    return reply(None, 204)


# --- metadata ------------------------------------------------------------------------------------


def _set(runtime: Any, ctx: RequestContext, image_id: str, items: Any, replace: bool) -> dict:
    if not isinstance(items, dict) or not all(isinstance(v, str) for v in items.values()):
        raise BadRequest("Invalid input for field/attribute metadata.")
    svc = _image_service(runtime)
    current = metadata_of(svc.show(ctx, image_id))
    bad = sorted(set(items) & VIEW_FIELDS)
    if bad:
        raise BadRequest(f"Invalid input for field/attribute metadata: {', '.join(bad)} are image attributes.")
    ops = [{"op": "remove", "path": f"/{k}"} for k in current if replace and k not in items]
    ops += [{"op": "replace" if k in current else "add", "path": f"/{k}", "value": v} for k, v in items.items()]
    return metadata_of(svc.update(ctx, image_id, ops)) if ops else current


def _wrapped(raw: Any, key: str) -> Any:
    if not isinstance(raw, dict) or key not in raw:
        raise BadRequest(f"Malformed request body: '{key}' is a required property")
    return raw[key]


@router.get("/v2.1/images/{image_id}/metadata")
def list_metadata(
    image_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:image_metadata:list")),
    runtime=Depends(get_runtime),
):
    _served(request)
    return reply({"metadata": metadata_of(_image_service(runtime).show(ctx, image_id))})


@router.post("/v2.1/images/{image_id}/metadata")
async def update_metadata(
    image_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:image_metadata:update")),
    runtime=Depends(get_runtime),
):
    _served(request)
    items = _wrapped(await json_body(request), "metadata")
    return reply({"metadata": _set(runtime, ctx, image_id, items, replace=False)})


@router.put("/v2.1/images/{image_id}/metadata")
async def replace_metadata(
    image_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:image_metadata:update")),
    runtime=Depends(get_runtime),
):
    _served(request)
    items = _wrapped(await json_body(request), "metadata")
    return reply({"metadata": _set(runtime, ctx, image_id, items, replace=True)})


@router.get("/v2.1/images/{image_id}/metadata/{key}")
def show_item(
    image_id: str,
    key: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:image_metadata:show")),
    runtime=Depends(get_runtime),
):
    _served(request)
    meta = metadata_of(_image_service(runtime).show(ctx, image_id))
    if key not in meta:
        raise NotFound(f"Image {image_id} has no metadata item {key}.")
    return reply({"meta": {key: meta[key]}})


@router.put("/v2.1/images/{image_id}/metadata/{key}")
async def set_item(
    image_id: str,
    key: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:image_metadata:create")),
    runtime=Depends(get_runtime),
):
    _served(request)
    item = _wrapped(await json_body(request), "meta")
    if not isinstance(item, dict) or len(item) > 1:
        raise BadRequest("Request body contains too many items")
    if key not in item:
        raise BadRequest("Request body and URI mismatch")
    _set(runtime, ctx, image_id, item, replace=False)
    return reply({"meta": item})


@router.delete("/v2.1/images/{image_id}/metadata/{key}")
def delete_item(
    image_id: str,
    key: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:image_metadata:delete")),
    runtime=Depends(get_runtime),
):
    _served(request)
    svc = _image_service(runtime)
    if key not in metadata_of(svc.show(ctx, image_id)):
        raise NotFound(f"Image {image_id} has no metadata item {key}.")
    svc.update(ctx, image_id, [{"op": "remove", "path": f"/{key}"}])
    return reply(None, 204)
