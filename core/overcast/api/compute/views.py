"""JSON views of compute resources, per microversion (up to
:data:`~overcast.api.compute.microversion.MAX_VERSION`) and caller."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request

from overcast.api.compute.common import base_url, iso, iso_micro, links
from overcast.compute.states import POWER_STATE_CODES, status_of
from overcast.context import RequestContext

V = tuple[int, int]


def flavor_view(
    request: Request, rec: Any, version: V, detail: bool = True, extra_specs: dict[str, str] | None = None
) -> dict:
    """A flavor: ``description`` from 2.55, ``extra_specs`` (detail views) from 2.61, and a
    swap of 0 rather than "" from 2.75."""
    out: dict[str, Any] = {"id": rec.id, "name": rec.name, "links": links(request, "flavors", rec.id)}
    if version >= (2, 55):
        out["description"] = rec.description
    if not detail:
        return out
    out.update(
        {
            "ram": rec.memory_mb,
            "disk": rec.root_gb,
            "vcpus": rec.vcpus,
            "swap": rec.swap_mb or ("" if version < (2, 75) else 0),
            "OS-FLV-EXT-DATA:ephemeral": rec.ephemeral_gb,
            "OS-FLV-DISABLED:disabled": rec.disabled,
            "os-flavor-access:is_public": rec.is_public,
            "rxtx_factor": rec.rxtx_factor,
        }
    )
    if version >= (2, 61):
        out["extra_specs"] = dict(extra_specs or {})
    return out


def server_flavor(request: Request, rec: Any, version: V) -> dict:
    """A server's ``flavor``: its id and link, or from 2.47 the flavor it was made with
    (name, sizes and extra specs) embedded."""
    if version < (2, 47):
        link = {"rel": "bookmark", "href": f"{base_url(request)}/compute/flavors/{rec.flavor_id}"}
        return {"id": rec.flavor_id, "links": [link]}
    flavor = rec.flavor or {}
    return {
        "original_name": flavor.get("name", ""),
        "vcpus": flavor.get("vcpus", 0),
        "ram": flavor.get("memory_mb", 0),
        "disk": flavor.get("root_gb", 0),
        "ephemeral": flavor.get("ephemeral_gb", 0),
        "swap": flavor.get("swap_mb", 0),
        "extra_specs": {k: v for k, v in (flavor.get("extra_specs") or {}).items() if k != "__type__"},
    }


def host_id(project_id: str, host: str | None) -> str:
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def server_summary(request: Request, rec: Any) -> dict:
    return {"id": rec.uuid, "name": rec.name, "links": links(request, "servers", rec.uuid)}


#: Statuses whose views carry ``progress`` (Nova's progress statuses).
_PROGRESS = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")


def server_view(
    request: Request,
    ctx: RequestContext,
    version: V,
    rec: Any,
    fault: Any = None,
    volumes: list | None = None,
    host_status: str | None = None,
    full: bool = True,
    groups: list[str] | None = None,
    rebuild: bool = False,
    security_groups: list[str] | None = None,
) -> dict:
    """One server at microversion ``version`` for the caller ``ctx``: the one place that
    decides which fields a server shows (Tempest's compute schemas are the reference).

    ``full`` is the view of ``GET /servers/{id}`` and ``/servers/detail``; without it, the
    view of ``PUT /servers/{id}`` and rebuild before 2.75 (no availability zone, key, usage,
    extended status, volume, security group or admin attributes, and plain addresses).
    ``host_status`` (admins, 2.16+) is Nova's: UP, DOWN (forced down), MAINTENANCE
    (disabled), UNKNOWN (its agent stopped answering: the status shown is the last one known)
    or "" without a host. ``groups`` (2.71+, show, update and rebuild only) are the ids of
    the server groups it belongs to; ``None`` leaves the field out (list views). ``rebuild``:
    the rebuild response, which also shows ``key_name`` from 2.54 and ``user_data`` from 2.57.
    ``security_groups``: the names of the groups on its ports (Nova leaves the field out when
    there are none)."""
    status = status_of(rec.vm_state, rec.task_state)
    base = base_url(request)
    image: Any = ""
    if rec.image_ref:
        image = {"id": rec.image_ref, "links": [{"rel": "bookmark", "href": f"{base}/compute/images/{rec.image_ref}"}]}
    out: dict[str, Any] = {
        "id": rec.uuid,
        "name": rec.name,
        "status": status,
        "tenant_id": rec.project_id,
        "user_id": rec.user_id,
        "metadata": dict(rec.metadata_ or {}),
        "hostId": host_id(rec.project_id, rec.host),
        "image": image,
        "flavor": server_flavor(request, rec, version),
        "created": iso(rec.created_at),
        "updated": iso(rec.updated_at),
        "addresses": dict(rec.addresses or {}),
        "accessIPv4": rec.access_ipv4 or "",
        "accessIPv6": rec.access_ipv6 or "",
        "links": links(request, "servers", rec.uuid),
        "OS-DCF:diskConfig": "MANUAL",
    }
    if status in _PROGRESS:
        out["progress"] = rec.progress if status in ("BUILD", "ACTIVE") else 0
    if full:
        out.update(
            {
                "OS-EXT-AZ:availability_zone": rec.availability_zone or "",
                "config_drive": "True" if rec.config_drive else "",
                "key_name": rec.key_name,
                "OS-SRV-USG:launched_at": _micro(rec.launched_at),
                "OS-SRV-USG:terminated_at": _micro(rec.terminated_at),
                "OS-EXT-STS:task_state": rec.task_state,
                "OS-EXT-STS:vm_state": rec.vm_state,
                "OS-EXT-STS:power_state": POWER_STATE_CODES.get(rec.power_state, 0),
                "os-extended-volumes:volumes_attached": [
                    (
                        {"id": b.volume_id, "delete_on_termination": b.delete_on_termination}
                        if version >= (2, 3)
                        else {"id": b.volume_id}
                    )
                    for b in (volumes or [])
                ],
            }
        )
    if full and security_groups:
        out["security_groups"] = [{"name": name} for name in security_groups]
    if full and ctx.is_admin:
        out["OS-EXT-SRV-ATTR:host"] = rec.host
        out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = rec.host
        out["OS-EXT-SRV-ATTR:instance_name"] = rec.hv_name
        if version >= (2, 3):
            out.update(
                {
                    "OS-EXT-SRV-ATTR:reservation_id": rec.reservation_id,
                    "OS-EXT-SRV-ATTR:launch_index": 0,
                    "OS-EXT-SRV-ATTR:hostname": rec.name,
                    "OS-EXT-SRV-ATTR:kernel_id": "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": "",
                    "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                }
            )
            if not rebuild:  # the rebuild view shows ``user_data`` instead (2.57)
                out["OS-EXT-SRV-ATTR:user_data"] = rec.user_data
    if version >= (2, 9):
        out["locked"] = bool(rec.locked)
    if full and version >= (2, 16) and ctx.is_admin:
        out["host_status"] = (host_status or "UNKNOWN") if rec.host else ""
    if version >= (2, 19):
        out["description"] = rec.description
    if version >= (2, 26):
        out["tags"] = []
    if version >= (2, 63):
        out["trusted_image_certificates"] = None  # certificate validation is refused (2.63)
    if rebuild and version >= (2, 54):
        out["key_name"] = rec.key_name
    if rebuild and version >= (2, 57):
        out["user_data"] = rec.user_data
    if version >= (2, 71) and groups is not None:
        out["server_groups"] = groups
    if version >= (2, 73):
        out["locked_reason"] = rec.locked_reason if rec.locked else None
    if fault is not None and status in ("ERROR", "DELETED"):
        out["fault"] = {"code": fault.code, "message": fault.message, "created": iso(fault.created_at)}
        if ctx.is_admin and fault.details:
            out["fault"]["details"] = fault.details
    return out


def plain_addresses(addresses: dict) -> dict:
    """Addresses without the ``OS-EXT-IPS:type`` / ``OS-EXT-IPS-MAC:mac_addr`` extensions
    (the update and rebuild views before 2.75)."""
    return {
        net: [{"version": a.get("version"), "addr": a.get("addr")} for a in items] for net, items in addresses.items()
    }


def _micro(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def keypair_view(rec: Any, version: V, detail: bool = False) -> dict:
    out = {"name": rec.name, "public_key": rec.public_key, "fingerprint": rec.fingerprint}
    if version >= (2, 2):
        out["type"] = rec.type
    if detail:
        out.update(
            {
                "id": rec.id,
                "user_id": rec.user_id,
                "created_at": iso(rec.created_at),
                "deleted": False,
                "deleted_at": None,
                "updated_at": None,
            }
        )
    elif version >= (2, 10):
        pass
    return out


def server_group_view(rec: Any, members: list[str], version: V) -> dict:
    """A server group: ``policies`` and ``metadata`` before 2.64, then ``policy`` and ``rules``."""
    out: dict[str, Any] = {"id": rec.id, "name": rec.name, "members": members}
    if version >= (2, 64):
        out.update(policy=rec.policy, rules={})
    else:
        out.update(policies=[rec.policy], metadata={})
    if version >= (2, 13):
        out["project_id"] = rec.project_id
        out["user_id"] = rec.user_id
    return out


def attachment_view(bdm: Any, version: V) -> dict:
    """A volume attachment: its device ``tag`` from 2.70 (always null: tagged attachments are
    refused) and ``delete_on_termination`` from 2.79."""
    out: dict[str, Any] = {
        "id": bdm.volume_id,
        "volumeId": bdm.volume_id,
        "serverId": bdm.instance_uuid,
        "device": bdm.device_name,
    }
    if version >= (2, 70):
        out["tag"] = None
    if version >= (2, 79):
        out["delete_on_termination"] = bdm.delete_on_termination
    return out


def action_updated(a: Any) -> Any:
    """When an instance action last changed: its events' last start or finish, else its start."""
    return a.updated_at or a.finish_time or a.start_time


def instance_action_view(a: Any, version: V) -> dict:
    """An instance action; ``updated_at`` from 2.58."""
    out = {
        "action": a.action,
        "instance_uuid": a.instance_uuid,
        "request_id": a.request_id,
        "user_id": a.user_id,
        "project_id": a.project_id,
        "start_time": iso_micro(a.start_time),
        "message": a.message,
    }
    if version >= (2, 58):
        out["updated_at"] = iso_micro(action_updated(a))
    return out


def instance_action_event_view(e: Any, project_id: str, version: V, admin: bool) -> dict:
    """An event of an instance action (Nova's ``_format_event``): ``traceback`` for admins;
    from 2.62 ``hostId`` (hashed with the action's project, like a server's) and, for
    admins, ``host``."""
    out: dict[str, Any] = {
        "event": e.event,
        "start_time": iso_micro(e.start_time),
        "finish_time": iso_micro(e.finish_time) if e.finish_time else None,
        "result": e.result,
    }
    if admin:
        out["traceback"] = e.traceback
    if version >= (2, 62):
        if admin:
            out["host"] = e.host
        out["hostId"] = host_id(project_id, e.host)
    return out
