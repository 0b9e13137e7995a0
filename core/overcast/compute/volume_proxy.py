"""Nova's volume proxy APIs before 2.36 (``os-volumes`` and ``os-snapshots``): Nova's shapes
and checks over the block storage service, as Nova's Cinder driver translates them. Nothing
is kept here; every call is a call to the volume service's own layer with the caller's
context (never an HTTP request to this cloud's own Cinder API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from overcast.compute.peers import require
from overcast.context import RequestContext
from overcast.errors import BadRequest

#: Nova's ``api.max_limit``: what ``common.limited`` caps a page at
MAX_LIMIT = 1000

#: the keys Nova's create schemas allow (the API refuses others before calling here)
VOLUME_KEYS = {
    "volume_type",
    "metadata",
    "snapshot_id",
    "size",
    "availability_zone",
    "display_name",
    "display_description",
}
SNAPSHOT_KEYS = {"volume_id", "force", "display_name", "display_description"}
_TRUE = ("1", "t", "true", "on", "y", "yes")
_FALSE = ("0", "f", "false", "off", "n", "no")


def volume_service(runtime: Any) -> Any:
    return require(runtime, "volume", "volumes", "Nova's volume proxy APIs")


def _created(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def volume_view(row: Any, attachments: list[Any], type_name: str | None) -> dict[str, Any]:
    """A Cinder volume in Nova's form (``_translate_volume_summary_view``): the first
    attachment of an attached volume, or ``[{}]``."""
    attached = [a for a in attachments if a.attach_status == "attached"]
    if attached:
        first: dict[str, Any] = {"id": row.id, "volumeId": row.id, "serverId": attached[0].instance_uuid}
        if attached[0].mountpoint:
            first["device"] = attached[0].mountpoint
        shown: list[dict[str, Any]] = [first]
    else:
        shown = [{}]
    return {
        "id": row.id,
        "status": row.status,
        "size": row.size,
        "availabilityZone": row.availability_zone,
        "createdAt": _created(row.created_at),
        "attachments": shown,
        "displayName": row.name,
        "displayDescription": row.description,
        "volumeType": type_name,
        "snapshotId": row.snapshot_id,
        "metadata": dict(row.metadata_ or {}),
    }


def snapshot_view(row: Any) -> dict[str, Any]:
    """A Cinder snapshot in Nova's form (``_translate_snapshot_summary_view``)."""
    return {
        "id": row.id,
        "volumeId": row.volume_id,
        "status": row.status,
        "size": row.size,
        "createdAt": _created(row.created_at),
        "displayName": row.name,
        "displayDescription": row.description,
    }


def _views(svc: Any, rows: list[Any]) -> list[dict[str, Any]]:
    atts = svc.volumes.attachments_of([r.id for r in rows])
    names = svc.volumes.type_names({r.volume_type_id for r in rows if r.volume_type_id}) if rows else {}
    return [volume_view(r, atts[r.id], names.get(r.volume_type_id) or r.volume_type_id) for r in rows]


def limited(params: dict[str, str]) -> tuple[int, int]:
    """Nova's ``common.limited``: (offset, limit) from the query, 400 for a bad one."""
    out = []
    for name, default in (("offset", 0), ("limit", MAX_LIMIT)):
        raw = params.get(name)
        if raw is None:
            out.append(default)
            continue
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name} param must be an integer") from None
        if value < 0:
            raise BadRequest(f"{name} param must be positive")
        out.append(value)
    offset, limit = out
    return offset, min(MAX_LIMIT, limit or MAX_LIMIT)


def list_volumes(runtime: Any, ctx: RequestContext, params: dict[str, str]) -> list[dict[str, Any]]:
    offset, limit = limited(params)
    svc = volume_service(runtime)
    rows = svc.volumes.list(ctx)
    return _views(svc, rows[offset : offset + limit])


def show_volume(runtime: Any, ctx: RequestContext, volume_id: str) -> dict[str, Any]:
    svc = volume_service(runtime)
    return _views(svc, [svc.volumes.get(ctx, volume_id)])[0]


def _size(value: Any) -> int:
    """Nova's schema: an integer, or a string of digits, at least 1."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadRequest(
            f"Invalid input for field/attribute size. Value: {value}. {value!r} is not of type 'integer', 'string'"
        )
    if isinstance(value, str):
        if not value.isdigit() or not value.isascii():
            raise BadRequest(
                f"Invalid input for field/attribute size. Value: {value}. {value!r} does not match '^[0-9]+$'"
            )
        value = int(value)
    if value < 1:
        raise BadRequest(
            f"Invalid input for field/attribute size. Value: {value}. {value} is less than the minimum of 1"
        )
    return value


def _strings(body: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in body and not isinstance(body[key], str):
            raise BadRequest(
                f"Invalid input for field/attribute {key}. Value: {body[key]}. {body[key]!r} is not of type 'string'"
            )


def create_volume(runtime: Any, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /os-volumes``: Nova's schema (``size`` required), then Cinder's create; the
    size of a volume from a snapshot defaults to the snapshot's."""
    if "size" not in body:
        raise BadRequest("Invalid input for field/attribute volume. Value: {}. 'size' is a required property")
    size = _size(body["size"])
    _strings(body, ("volume_type", "snapshot_id", "availability_zone", "display_name", "display_description"))
    if "metadata" in body and not isinstance(body["metadata"], dict):
        raise BadRequest(
            f"Invalid input for field/attribute metadata. Value: {body['metadata']}. is not of type 'object'"
        )
    svc = volume_service(runtime)
    if body.get("snapshot_id") is not None:
        svc.snapshots.get(ctx, body["snapshot_id"])  # 404 for an unknown snapshot, as Nova
    row = svc.volumes.create(
        ctx,
        size=size,
        name=body.get("display_name"),
        description=body.get("display_description"),
        volume_type=body.get("volume_type"),
        snapshot_id=body.get("snapshot_id"),
        metadata=body.get("metadata"),
        availability_zone=body.get("availability_zone"),
    )
    return _views(svc, [row])[0]


def delete_volume(runtime: Any, ctx: RequestContext, volume_id: str) -> None:
    volume_service(runtime).volumes.delete(ctx, volume_id)


def list_snapshots(runtime: Any, ctx: RequestContext, params: dict[str, str]) -> list[dict[str, Any]]:
    offset, limit = limited(params)
    rows = volume_service(runtime).snapshots.list(ctx)
    return [snapshot_view(r) for r in rows[offset : offset + limit]]


def show_snapshot(runtime: Any, ctx: RequestContext, snapshot_id: str) -> dict[str, Any]:
    return snapshot_view(volume_service(runtime).snapshots.get(ctx, snapshot_id))


def _force(value: Any) -> bool:
    """Nova's ``boolean_param``: a boolean or one of oslo's boolean strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise BadRequest(
        f"Invalid input for field/attribute force. Value: {value}. {value!r} is not one of the boolean values"
    )


def create_snapshot(runtime: Any, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /os-snapshots``: ``volume_id`` required; ``force`` snapshots an in-use volume."""
    if "volume_id" not in body:
        raise BadRequest("Invalid input for field/attribute snapshot. Value: {}. 'volume_id' is a required property")
    _strings(body, ("volume_id", "display_name", "display_description"))
    row = volume_service(runtime).snapshots.create(
        ctx,
        body["volume_id"],
        name=body.get("display_name"),
        description=body.get("display_description"),
        force=_force(body.get("force", False)),
    )
    return snapshot_view(row)


def delete_snapshot(runtime: Any, ctx: RequestContext, snapshot_id: str) -> None:
    volume_service(runtime).snapshots.delete(ctx, snapshot_id)
