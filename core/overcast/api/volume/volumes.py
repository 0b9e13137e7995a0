"""``/volume/v3/{project_id}/volumes``: CRUD, metadata and the ``action`` endpoint."""

from __future__ import annotations

import ast
import json
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.api.volume import views
from overcast.api.volume.common import (
    ApiVersion,
    Version,
    all_projects,
    base_url,
    body_of,
    check_project,
    json_body,
    offset_of,
    paging,
    reply,
    sort_keys,
    truthy,
)
from overcast.context import RequestContext
from overcast.errors import BadRequest
from overcast.runtime import Runtime
from overcast.volume.attachments import connector_from_api
from overcast.volume.parts import check_ref

router = ResourceRouter()


def render(
    runtime: Runtime, request: Request, ctx: RequestContext, rows: list[Any], version: ApiVersion, extended: bool = True
) -> list[dict[str, Any]]:
    """Volume views at ``version`` (see :func:`views.volume` for ``extended``)."""
    svc = runtime.service("volume")
    atts = svc.volumes.attachments_of([r.id for r in rows])
    names = svc.volumes.type_names({r.volume_type_id for r in rows}) if rows else {}
    base = base_url(request)
    return [
        views.volume(r, atts[r.id], names.get(r.volume_type_id, ""), base, ctx.is_admin, version.minor, extended)
        for r in rows
    ]


def _metadata_filter(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(raw)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
    raise BadRequest(f"Invalid input received: metadata filter {raw!r} is not an object.")


def _list(
    request: Request, ctx: RequestContext, runtime: Runtime, project_id: str, version: ApiVersion, detail: bool
) -> Response:
    check_project(project_id, ctx)
    marker, limit = paging(request)
    q = request.query_params
    filters = {
        "name": q.get("name"),
        "status": q.get("status"),
        "bootable": q.get("bootable"),
        "metadata": _metadata_filter(q.get("metadata")),
        "project_id": q.get("project_id"),
    }
    rows = runtime.service("volume").volumes.list(
        ctx, filters, all_projects(request, ctx), marker, limit, sort_keys(request), offset_of(request)
    )
    base = base_url(request)
    body: dict[str, Any] = {
        "volumes": render(runtime, request, ctx, rows, version)
        if detail
        else [views.volume_summary(r, base) for r in rows]
    }
    if limit is not None and rows and len(rows) == limit:
        path = f"{base}/volume/v3/{project_id}/volumes{'/detail' if detail else ''}"
        body["volumes_links"] = [{"rel": "next", "href": f"{path}?limit={limit}&marker={rows[-1].id}"}]
    return reply(body, 200, version)


@router.get("/volumes")
def list_volumes(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:volumes:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    return _list(request, ctx, runtime, project_id, version, detail=False)


@router.get("/volumes/detail")
def list_volumes_detail(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:volumes:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    return _list(request, ctx, runtime, project_id, version, detail=True)


@router.post("/volumes")
async def create_volume(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:volumes:create")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "volume")
    row = runtime.service("volume").volumes.create(
        ctx,
        size=body.get("size"),
        name=body.get("name", body.get("display_name")),
        description=body.get("description", body.get("display_description")),
        volume_type=body.get("volume_type"),
        snapshot_id=body.get("snapshot_id"),
        source_volid=body.get("source_volid"),
        image_id=body.get("imageRef") or body.get("image_id"),
        metadata=body.get("metadata"),
        availability_zone=body.get("availability_zone"),
        multiattach=truthy(body.get("multiattach", False)),
        group_id=body.get("group_id") if version.at_least(13) else None,
    )
    return reply({"volume": render(runtime, request, ctx, [row], version, extended=False)[0]}, 202, version)


@router.get("/volumes/summary")
def volumes_summary(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:volumes:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    """Cinder's volume summary (3.12): how many volumes and gigabytes the caller's project
    (an admin's ``all_tenants``: every project) has; from 3.36 each metadata key with its values."""
    from overcast.errors import NotFound

    check_project(project_id, ctx)
    if not version.at_least(12):
        raise NotFound("Volume summary could not be found.")
    all_projects = truthy(request.query_params.get("all_tenants", "0"))
    rows = runtime.service("volume").volumes.list(ctx, all_projects=all_projects)
    summary: dict[str, Any] = {"total_size": sum(r.size for r in rows), "total_count": len(rows)}
    if version.at_least(36):
        meta: dict[str, list[str]] = {}
        for row in rows:
            for key, value in (row.metadata_ or {}).items():
                if value not in meta.setdefault(key, []):
                    meta[key].append(value)
        summary["metadata"] = {key: sorted(values) for key, values in meta.items()}
    return reply({"volume-summary": summary}, 200, version)


@router.api_route("/volumes/", methods=["GET", "PUT", "DELETE"], include_in_schema=False)
def volume_without_id(project_id: str, ctx: RequestContext = Depends(authorize("volume:volumes:show"))) -> Response:
    """``/volumes/`` names a volume with an empty id, which no volume has (Cinder: 404)."""
    from overcast.errors import NotFound

    raise NotFound("Volume  could not be found.")


@router.get("/volumes/{volume_id}")
def show_volume(
    project_id: str,
    volume_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:volumes:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    row = runtime.service("volume").volumes.get(ctx, volume_id)
    return reply({"volume": render(runtime, request, ctx, [row], version)[0]}, 200, version)


@router.put("/volumes/{volume_id}")
async def update_volume(
    project_id: str,
    volume_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:volumes:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "volume")
    changes: dict[str, Any] = {k: body[k] for k in ("name", "description", "metadata") if k in body}
    for old, new in (("display_name", "name"), ("display_description", "description")):
        if old in body and new not in changes:
            changes[new] = body[old]
    row = runtime.service("volume").volumes.update(ctx, volume_id, changes)
    return reply({"volume": render(runtime, request, ctx, [row], version, extended=False)[0]}, 200, version)


@router.delete("/volumes/{volume_id}")
def delete_volume(
    project_id: str,
    volume_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:volumes:delete")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    cascade = truthy(request.query_params.get("cascade", "false"))
    runtime.service("volume").volumes.delete(ctx, volume_id, cascade=cascade)
    return reply(None, 202, version)


# --- metadata -------------------------------------------------------------------------------


# /volumes/{id}/metadata routes: overcast.api.volume.metadata


# --- actions -----------------------------------------------------------------------------------

READ_ONLY_ACTIONS = ("os-show_image_metadata",)
ADMIN_ACTIONS = {
    "os-reset_status": "volume:volumes:reset_status",
    "os-force_delete": "volume:volumes:force_delete",
    "os-force_detach": "volume:volumes:force_detach",
    "os-migrate_volume": "volume:volumes:migrate",
    "os-migrate_volume_completion": "volume:volumes:migrate_completion",
}


@router.post("/volumes/{volume_id}/action")
async def volume_action(
    project_id: str,
    volume_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:volumes:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid request body: exactly one action is expected.")
    name, args = next(iter(body.items()))
    args = args if isinstance(args, dict) else {}
    if name not in READ_ONLY_ACTIONS:  # a project reader may only look
        runtime.identity.enforce("volume:volumes:action", ctx)
    if name in ADMIN_ACTIONS:
        runtime.identity.enforce(ADMIN_ACTIONS[name], ctx)
    handler = ACTIONS.get(name)
    if handler is None:
        raise BadRequest(f"There is no such action: {name}")
    svc = runtime.service("volume")
    if name == "os-extend":  # the only action whose meaning depends on the microversion
        status, payload = _extend(svc, ctx, volume_id, args, online=version.at_least(ONLINE_EXTEND))
    elif name == "revert" and not version.at_least(REVERT):
        raise BadRequest(f"There is no such action: {name}")
    elif name == "os-migrate_volume":
        status, payload = _migrate(svc, ctx, volume_id, args, cluster=version.at_least(MIGRATE_CLUSTER))
    else:
        status, payload = handler(svc, ctx, volume_id, args)
    return reply(payload, status, version)


#: Cinder 3.40: the ``revert`` action (to the volume's latest snapshot)
REVERT = 40


def _revert(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    if "snapshot_id" not in args:
        raise BadRequest("Invalid input received: snapshot_id is required.")
    svc.revert.revert(ctx, vid, args["snapshot_id"])
    return 202, None


#: Cinder 3.42: ``os-extend`` also takes an in-use volume (online extend)
ONLINE_EXTEND = 42


def _extend(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any], online: bool = False) -> tuple[int, Any]:
    if "new_size" not in args:
        raise BadRequest("Invalid input received: new_size is required.")
    svc.volumes.extend(ctx, vid, args["new_size"], online=online)
    return 202, None


def _attach(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    instance = check_ref(args.get("instance_uuid"), "instance_uuid")
    if not instance:
        raise BadRequest("Invalid input received: instance_uuid is required.")
    check_ref(args.get("mountpoint"), "mountpoint")
    check_ref(args.get("host_name"), "host_name")
    existing = svc.attachment_of(ctx, vid, instance)
    att_id = existing.id if existing else svc.attachments.reserve(ctx, vid, instance, mode=args.get("mode", "rw")).id
    svc.attachments.attach(ctx, vid, att_id, mountpoint=args.get("mountpoint"), host=args.get("host_name"))
    return 202, None


def _detach(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    svc.attachments.detach(ctx, vid, args.get("attachment_id"))
    return 202, None


def _reserve(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    svc.attachments.reserve(ctx, vid, args.get("instance_uuid") or f"reserved-{vid}")
    return 202, None


def _unreserve(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    svc.attachments.unreserve(ctx, vid, args.get("attachment_id"))
    return 202, None


def _initialize(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    connector = connector_from_api(args.get("connector"), svc.attachments.default_connection_types(ctx, vid))
    info = svc.attachments.initialize_connection(ctx, vid, connector)
    return 200, {"connection_info": views.connection_info(info)}


def _terminate(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    connector = connector_from_api(args.get("connector"), svc.attachments.default_connection_types(ctx, vid))
    svc.attachments.terminate_connection(ctx, vid, connector)
    return 202, None


def _upload(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    row, image = svc.volumes.upload_to_image(
        ctx,
        vid,
        args.get("image_name"),
        args.get("disk_format", "raw"),
        args.get("container_format", "bare"),
        truthy(args.get("force", False)),
    )
    return 202, {
        "os-volume_upload_image": {
            "id": row.id,
            "updated_at": views.iso(row.updated_at),
            "status": row.status,
            "display_description": row.description,
            "size": row.size,
            "volume_type": None,
            "image_id": image.id,
            "container_format": image.container_format,
            "disk_format": image.disk_format,
            "image_name": image.name,
        }
    }


def _set_bootable(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    if "bootable" not in args:
        raise BadRequest("Invalid input received: bootable is required.")
    svc.volumes.set_flags(ctx, vid, bootable=truthy(args["bootable"]))
    return 200, None


def _readonly(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    if "readonly" not in args:
        raise BadRequest("Invalid input received: readonly is required.")
    svc.volumes.set_flags(ctx, vid, readonly=truthy(args["readonly"]))
    return 202, None


def _reset_status(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    svc.volumes.reset_status(ctx, vid, args.get("status"))
    return 202, None


#: Cinder 3.16: ``os-migrate_volume`` takes ``cluster`` instead of ``host``
MIGRATE_CLUSTER = 16


def _bool_param(args: dict[str, Any], name: str) -> bool:
    """Cinder's ``get_bool_param``: a boolean or a boolean-like string, else 400."""
    value = args.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (
        "1",
        "0",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "t",
        "f",
        "y",
        "n",
    ):
        return truthy(value)
    raise BadRequest(f"Invalid input received: {name} must be a boolean, got {value!r}.")


def _migrate(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any], cluster: bool = False) -> tuple[int, Any]:
    known = {"host", "force_host_copy", "lock_volume"} | ({"cluster"} if cluster else set())
    unknown = sorted(set(args) - known)
    if unknown:
        raise BadRequest(
            f"Invalid input for field/attribute os-migrate_volume. Additional properties are not allowed ({', '.join(repr(k) for k in unknown)} were unexpected)"
        )
    svc.migration.migrate(
        ctx,
        vid,
        args.get("host"),
        force_host_copy=_bool_param(args, "force_host_copy"),
        lock_volume=_bool_param(args, "lock_volume"),
        cluster=args.get("cluster"),
    )
    return 202, None


def _migrate_completion(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    if "new_volume" not in args:
        raise BadRequest("Invalid input received: new_volume is required.")
    saved = svc.migration.complete(ctx, vid, args["new_volume"], _bool_param(args, "error"))
    return 200, {"save_volume_id": saved}


def _force_delete(svc: Any, ctx: RequestContext, vid: str, args: dict[str, Any]) -> tuple[int, Any]:
    svc.volumes.reset_status(ctx, vid, "error")
    svc.volumes.delete(ctx, vid, cascade=True)
    return 202, None


ACTIONS = {
    "os-extend": _extend,
    "os-force_detach": lambda svc, ctx, vid, args: (
        svc.attachments.force_detach(
            ctx,
            vid,
            args.get("attachment_id"),
            connector_from_api(args["connector"], svc.attachments.default_connection_types(ctx, vid))
            if args.get("connector")
            else None,
        ),
        (202, None),
    )[1],
    "os-set_image_metadata": lambda svc, ctx, vid, args: (
        200,
        {"metadata": svc.volumes.set_image_metadata(ctx, vid, args.get("metadata"))},
    ),
    "os-unset_image_metadata": lambda svc, ctx, vid, args: (
        svc.volumes.unset_image_metadata(ctx, vid, args.get("key")),
        (200, None),
    )[1],
    "os-show_image_metadata": lambda svc, ctx, vid, args: (200, {"metadata": svc.volumes.image_metadata(ctx, vid)}),
    "os-retype": lambda svc, ctx, vid, args: (
        svc.volumes.retype(ctx, vid, args.get("new_type"), args.get("migration_policy", "never")),
        (202, None),
    )[1],
    "os-attach": _attach,
    "os-detach": _detach,
    "os-reserve": _reserve,
    "os-unreserve": _unreserve,
    "os-begin_detaching": lambda svc, ctx, vid, args: (svc.attachments.begin_detaching(ctx, vid), (202, None))[1],
    "os-roll_detaching": lambda svc, ctx, vid, args: (svc.attachments.roll_detaching(ctx, vid), (202, None))[1],
    "os-initialize_connection": _initialize,
    "os-terminate_connection": _terminate,
    "os-volume_upload_image": _upload,
    "os-set_bootable": _set_bootable,
    "os-update_readonly_flag": _readonly,
    "os-reset_status": _reset_status,
    "os-force_delete": _force_delete,
    "revert": _revert,  # 3.40 (issue 18)
    "os-migrate_volume": _migrate,  # issue 18
    "os-migrate_volume_completion": _migrate_completion,
}
