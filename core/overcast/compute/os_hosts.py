"""Nova's deprecated host API (``os-hosts``, before microversion 2.43): the hosts as their
services see them, a compute host's resources (total, in use, claimed by its servers, and
per project), and enabling or disabling a compute host (its ``nova-compute`` service, as
``os-services`` does). Maintenance mode and host power actions are refused with Nova's 501:
no hypervisor driver here can put its host into maintenance or power it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from overcast.compute.hosts import COMPUTE_BINARY
from overcast.db.models.compute import InstanceRecord
from overcast.db.models.hosts import HostRecord, ServiceRecord
from overcast.errors import BadRequest, NotFound, OvercastError

#: what ``status`` and ``maintenance_mode`` accept (Nova's schema: these spellings only)
TOGGLES = ("enable", "disable", "Enable", "Disable", "ENABLE", "DISABLE")
POWER_ACTIONS = ("startup", "shutdown", "reboot")


class FeatureNotSupported(OvercastError):
    """Nova's ``raise_feature_not_supported``: what the virt driver does not implement."""

    status = 501
    title = "Not Implemented"

    def __init__(self, message: str = "The requested functionality is not supported.") -> None:
        super().__init__(message)


def list_hosts(runtime: Any, zone: str | None) -> list[dict]:
    """Every enabled service's host (Nova lists ``disabled=False`` services), with its topic
    as ``service``; ``zone`` (when not blank) keeps those in that availability zone."""
    with runtime.db.session() as s:
        rows = list(
            s.scalars(select(ServiceRecord).where(ServiceRecord.disabled.is_(False)).order_by(ServiceRecord.id))
        )
    out = [{"host_name": r.host, "service": r.topic, "zone": r.availability_zone} for r in rows]
    return [h for h in out if h["zone"] == zone] if zone else out


def _resource(host: str, project: str, cpu: int, memory_mb: int, disk_gb: int) -> dict:
    return {"resource": {"host": host, "project": project, "cpu": cpu, "memory_mb": memory_mb, "disk_gb": disk_gb}}


def show_host(runtime: Any, name: str) -> list[dict]:
    """A compute host's resources: ``(total)`` and ``(used_now)`` as its hypervisor reports
    them, ``(used_max)`` the sum of its servers' flavors, then the same sum per project."""
    with runtime.db.session() as s:
        rec = s.scalars(select(HostRecord).where(HostRecord.name == name)).first()
        if rec is None:
            raise NotFound(f"Compute host {name} could not be found.")
        servers = list(
            s.scalars(select(InstanceRecord).where(InstanceRecord.host == name, InstanceRecord.deleted.is_(False)))
        )
        out = [
            _resource(name, "(total)", rec.vcpus, rec.memory_mb, rec.local_gb),
            _resource(name, "(used_now)", rec.vcpus_used, rec.memory_mb_used, rec.local_gb_used),
        ]
    totals: dict[str, list[int]] = {}
    for server in servers:
        flavor = server.flavor or {}
        used = totals.setdefault(server.project_id, [0, 0, 0])
        used[0] += int(flavor.get("vcpus", 0))
        used[1] += int(flavor.get("memory_mb", 0))
        used[2] += int(flavor.get("root_gb", 0)) + int(flavor.get("ephemeral_gb", 0))
    out.append(_resource(name, "(used_max)", *(sum(v[i] for v in totals.values()) for i in range(3))))
    out.extend(_resource(name, project, *used) for project, used in totals.items())
    return out


def _compute_service(runtime: Any, name: str) -> ServiceRecord:
    with runtime.db.session() as s:
        row = s.scalars(
            select(ServiceRecord).where(ServiceRecord.binary == COMPUTE_BINARY, ServiceRecord.host == name)
        ).first()
    if row is None:
        raise NotFound(f"Host {name} could not be found.")
    return row


def _toggle(field: str, value: Any) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in TOGGLES:
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. {value!r} is not one of {list(TOGGLES)}"
        )
    return value.lower() == "enable"


def update_host(runtime: Any, name: str, body: Any) -> dict:
    """``PUT /os-hosts/{host}``: ``status`` enables or disables the host's compute service;
    ``maintenance_mode`` is refused with 501 (after ``status`` is applied, as Nova does)."""
    if not isinstance(body, dict):
        raise BadRequest("Invalid input for the host update: the body must be an object.")
    extra = sorted(set(body) - {"status", "maintenance_mode"})
    if extra:
        raise BadRequest(
            f"Invalid input for field/attribute host. Additional properties are not allowed ({', '.join(map(repr, extra))} "
            f"{'was' if len(extra) == 1 else 'were'} unexpected)"
        )
    status = _toggle("status", body.get("status"))
    maintenance = _toggle("maintenance_mode", body.get("maintenance_mode"))
    if status is None and maintenance is None:
        raise BadRequest("'status' or 'maintenance_mode' needed for host update")
    _compute_service(runtime, name)
    result: dict[str, Any] = {"host": name}
    if status is not None:
        row = runtime.compute.hosts.set_service(name, COMPUTE_BINARY, disabled=not status)
        result["status"] = "disabled" if row.disabled else "enabled"
    if maintenance is not None:
        raise FeatureNotSupported()
    return result


def power_action(runtime: Any, name: str, action: str) -> dict:
    """``GET /os-hosts/{host}/{startup|shutdown|reboot}``: 404 for an unknown host, else
    Nova's 501 (no driver here powers its host)."""
    _compute_service(runtime, name)
    raise FeatureNotSupported()
