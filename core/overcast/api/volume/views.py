"""Cinder v3 response bodies for volumes, snapshots, attachments and types."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from overcast.db.models.volume import Volume, VolumeAttachment, VolumeSnapshot, VolumeType
from overcast.types import ConnectionInfo


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def links(base: str, project_id: str, collection: str, item_id: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{base}/volume/v3/{project_id}/{collection}/{item_id}"},
        {"rel": "bookmark", "href": f"{base}/volume/{project_id}/{collection}/{item_id}"},
    ]


def attachment_summary(att: VolumeAttachment, is_admin: bool) -> dict[str, Any]:
    return {
        "id": att.volume_id,
        "attachment_id": att.id,
        "volume_id": att.volume_id,
        "server_id": att.instance_uuid,
        "host_name": att.attached_host if is_admin else None,  # Cinder shows the host to admins only
        "device": att.mountpoint,
        "attached_at": iso(att.attached_at),
    }


def volume(
    row: Volume,
    attachments: list[VolumeAttachment],
    type_name: str,
    base: str,
    is_admin: bool,
    minor: int = 0,
    extended: bool = True,
) -> dict[str, Any]:
    """A volume at microversion ``3.<minor>`` for an admin or not: the one place that decides
    a volume's fields (Tempest's volume schemas are the reference).

    ``extended`` adds what Cinder's extensions add to ``GET`` (show and detail list) but not
    to the create and update responses: the tenant, host and migration attributes (admins)
    and ``volume_image_metadata``."""
    out: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "size": row.size,
        "status": row.status,
        "availability_zone": row.availability_zone,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "attachments": [attachment_summary(a, is_admin) for a in attachments if a.attach_status == "attached"],
        "bootable": "true" if row.bootable else "false",
        "encrypted": False,
        "multiattach": row.multiattach,
        "metadata": _metadata(row),
        "snapshot_id": row.snapshot_id,
        "source_volid": row.source_volid,
        "volume_type": type_name,
        "user_id": row.user_id,
        "replication_status": None,
        "consistencygroup_id": None,
        "links": links(base, row.project_id, "volumes", row.id),
    }
    if is_admin:
        out["migration_status"] = row.migration_status
    if minor >= 13:
        out["group_id"] = row.group_id
    if minor >= 21 and is_admin:
        out["provider_id"] = None
    if minor >= 48:
        out["service_uuid"] = None
        out["shared_targets"] = False
    if minor >= 61 and is_admin:
        out["cluster_name"] = None
    if minor >= 63:
        out["volume_type_id"] = row.volume_type_id
    if minor >= 65:
        out["consumes_quota"] = True
    if extended:
        if row.image_metadata:
            out["volume_image_metadata"] = dict(row.image_metadata)
        # Cinder's volume_tenant_attribute policy: admins and the project's readers
        out["os-vol-tenant-attr:tenant_id"] = row.project_id
        if is_admin:
            out["os-vol-host-attr:host"] = f"overcast@{row.backend}#{row.backend}" if row.backend else None
            out["os-vol-mig-status-attr:migstat"] = row.migration_status
            out["os-vol-mig-status-attr:name_id"] = None
    return out


def volume_summary(row: Volume, base: str) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "links": links(base, row.project_id, "volumes", row.id)}


def snapshot(row: VolumeSnapshot, minor: int = 0, detail: bool = True) -> dict[str, Any]:
    """A snapshot at microversion ``3.<minor>``; ``detail`` (show and the detail list, not
    create, update or the plain list) adds the extended snapshot attributes."""
    out: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "volume_id": row.volume_id,
        "size": row.size,
        "status": row.status,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "metadata": dict(row.metadata_ or {}),
    }
    if minor >= 14:
        out["group_snapshot_id"] = None
    if minor >= 41:
        out["user_id"] = row.user_id
    if minor >= 65:
        out["consumes_quota"] = True
    if detail:
        out["os-extended-snapshot-attributes:project_id"] = row.project_id
        out["os-extended-snapshot-attributes:progress"] = row.progress or (
            "100%" if row.status == "available" else "0%"
        )
    return out


def volume_type(row: VolumeType, is_admin: bool, created: bool = False, updated: bool = False) -> dict[str, Any]:
    """A volume type; Cinder's create response has no ``qos_specs_id`` (show and list do),
    and its update response neither that nor ``os-volume-type-access:is_public``."""
    out: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "is_public": row.is_public,
    }
    if not updated:
        out["os-volume-type-access:is_public"] = row.is_public
    if not created and not updated:
        out["qos_specs_id"] = row.qos_specs_id
    if is_admin:
        out["extra_specs"] = dict(row.extra_specs or {})
    return out


def connection_info(info: ConnectionInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {"driver_volume_type": info.driver_volume_type, "data": dict(info.data)}


def attachment(att: VolumeAttachment, info: dict[str, Any] | None = None) -> dict[str, Any]:
    status = {"reserved": "reserved", "attaching": "attaching", "attached": "attached"}.get(
        att.attach_status, att.attach_status
    )
    return {
        "id": att.id,
        "volume_id": att.volume_id,
        "instance": att.instance_uuid,
        "status": status,
        "attached_at": iso(att.attached_at),
        "detached_at": None,
        "attach_mode": att.attach_mode,
        "connection_info": info if info is not None else stored_connection_info(att),
    }


def stored_connection_info(att: VolumeAttachment) -> dict[str, Any]:
    data = att.connection_info or {}
    if not data:
        return {}
    return {"driver_volume_type": data.get("driver_volume_type"), "data": dict(data.get("data") or {})}


def _metadata(row: Any) -> dict[str, str]:
    """The volume's metadata plus the admin metadata Cinder shows in it: ``readonly``, once
    ``os-update_readonly_flag`` has set it."""
    out = dict(row.metadata_ or {})
    if row.readonly is not None:
        out["readonly"] = str(row.readonly)
    return out
