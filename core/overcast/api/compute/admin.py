"""Hosts and limits: ``os-hypervisors``, ``os-services``, ``os-availability-zone``, ``limits``
and ``os-quota-sets``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import select

from overcast.api.compute.common import iso_micro, json_body, reply, wrapped
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute.hosts import COMPUTE_BINARY
from overcast.context import RequestContext
from overcast.db.models.base import utcnow
from overcast.db.models.hosts import HostRecord, ServiceRecord
from overcast.errors import BadRequest, NotFound

router = ResourceRouter(route_class=MicroversionRoute)


def _rows(runtime):
    with runtime.db.session() as s:
        hosts = list(s.scalars(select(HostRecord).order_by(HostRecord.name)))
        services = {r.host: r for r in s.scalars(select(ServiceRecord).where(ServiceRecord.binary == COMPUTE_BINARY))}
    return hosts, services


def _up(runtime, seen) -> bool:
    return seen is not None and utcnow() - seen <= timedelta(seconds=runtime.config.bus.host_down_after)


#: the namespace of the services' uuids (2.53): one per binary and host, stable across restarts
_SERVICE_NAMESPACE = uuid.UUID("6f1a4d9e-0c3b-5b8e-9a51-0b7e2c4f8d10")


def service_uuid(row: ServiceRecord) -> str:
    """A service's uuid, its id from 2.53."""
    return str(uuid.uuid5(_SERVICE_NAMESPACE, f"{row.binary}@{row.host}"))


def _hypervisor(
    runtime, version, rec: HostRecord, svc: ServiceRecord | None, detail: bool, servers: list | None = None
) -> dict:
    """A hypervisor: from 2.53 its id is the host's uuid, its service's the service's uuid,
    and ``servers`` ({uuid, name}) lists its servers when asked (``with_servers``; from 2.75
    also when there are none)."""
    uuids = version >= (2, 53)
    out: dict[str, Any] = {
        "id": rec.id if uuids else (svc.id if svc else 0),
        "hypervisor_hostname": rec.name,
        "state": "up" if rec.error is None and _up(runtime, rec.last_heartbeat) else "down",
        "status": "enabled" if rec.enabled else "disabled",
    }
    if not detail:
        _add_servers(out, servers, version)
        return out
    r = runtime.compute.ratios
    caps = rec.capabilities or {}
    cpu_info = {"hypervisor_type": rec.hypervisor_type, "image_types": caps.get("image_types", [])}
    out.update(
        {
            "hypervisor_type": rec.hypervisor_type,
            "hypervisor_version": rec.hypervisor_version,
            "host_ip": "127.0.0.1",
            "vcpus": rec.vcpus,
            "memory_mb": rec.memory_mb,
            "local_gb": rec.local_gb,
            "vcpus_used": rec.vcpus_used,
            "memory_mb_used": rec.memory_mb_used,
            "local_gb_used": rec.local_gb_used,
            "free_ram_mb": int(rec.memory_mb * r.ram) - rec.memory_mb_used,
            "free_disk_gb": int(rec.local_gb * r.disk) - rec.local_gb_used,
            "current_workload": 0,
            "running_vms": rec.running_vms,
            "disk_available_least": int(rec.local_gb * r.disk) - rec.local_gb_used,
            "cpu_info": cpu_info if version >= (2, 28) else str(cpu_info),
            "service": {
                "id": (service_uuid(svc) if uuids else svc.id) if svc else 0,
                "host": rec.name,
                "disabled_reason": rec.disabled_reason,
            },
        }
    )
    _add_servers(out, servers, version)
    return out


def _add_servers(out: dict, servers: list | None, version: tuple[int, int]) -> None:
    if servers:
        out["servers"] = [{"name": r.name, "uuid": r.uuid} for r in servers]
    elif servers is not None and version >= (2, 75):
        out["servers"] = []


def _servers_on(runtime, host: str) -> list:
    from overcast.db.models.compute import InstanceRecord

    with runtime.db.session() as s:
        stmt = select(InstanceRecord).where(InstanceRecord.host == host, InstanceRecord.deleted.is_(False))
        return list(s.scalars(stmt.order_by(InstanceRecord.created_at)))


def _with_servers(request: Request, version: tuple[int, int]) -> bool:
    """``with_servers`` (2.53): a strict boolean."""
    value = request.query_params.get("with_servers") if version >= (2, 53) else None
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("1", "t", "true", "on", "y", "yes"):
        return True
    if lowered in ("0", "f", "false", "off", "n", "no"):
        return False
    raise BadRequest(f"Invalid input for query parameters with_servers. Value: {value}.")


def _hypervisor_page(request: Request, runtime, detail: bool):
    """The hypervisor list, with ``limit``/``marker`` paging from 2.33 (ordered by id)."""
    from overcast.errors import BadRequest

    hosts, services = _rows(runtime)
    version = version_of(request)
    params = request.query_params
    with_servers = _with_servers(request, version)
    pattern = params.get("hypervisor_hostname_pattern") if version >= (2, 53) else None
    if pattern is not None:
        if "limit" in params or "marker" in params:
            raise BadRequest(
                "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported."
            )
        hosts = [h for h in hosts if pattern in h.name]
        if not hosts:
            raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    items = sorted(
        (
            _hypervisor(
                runtime,
                version,
                h,
                services.get(h.name),
                detail,
                _servers_on(runtime, h.name) if with_servers else None,
            )
            for h in hosts
            if services.get(h.name) is not None or version < (2, 53)
        ),
        key=lambda v: v["id"],
    )
    out: dict = {}
    if version >= (2, 33) and ("limit" in params or "marker" in params):
        try:
            limit = int(params["limit"]) if "limit" in params else None
            marker: Any = params.get("marker")
            if marker is not None and version < (2, 53):
                marker = int(marker)
        except ValueError:
            raise BadRequest("limit and marker must be integers") from None
        if marker is not None:
            if marker not in [i["id"] for i in items]:
                raise BadRequest(f"marker [{marker}] not found")
            items = [i for i in items if i["id"] > marker]
        if limit is not None:
            if limit < 0:
                raise BadRequest("limit must be >= 0")
            more = len(items) > limit
            items = items[:limit]
            if more and items:
                path = "os-hypervisors/detail" if detail else "os-hypervisors"
                out["hypervisors_links"] = [
                    {
                        "rel": "next",
                        "href": f"{str(request.base_url).rstrip('/')}/compute/v2.1/{path}?limit={limit}&marker={items[-1]['id']}",
                    }
                ]
    return reply({"hypervisors": items, **out})


@router.get("/v2.1/os-hypervisors")
def list_hypervisors(
    request: Request, ctx: RequestContext = Depends(authorize("compute:hypervisors:list")), runtime=Depends(get_runtime)
):
    return _hypervisor_page(request, runtime, detail=False)


@router.get("/v2.1/os-hypervisors/detail")
def list_hypervisors_detail(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:hypervisors:detail")),
    runtime=Depends(get_runtime),
):
    return _hypervisor_page(request, runtime, detail=True)


@router.get("/v2.1/os-hypervisors/statistics")
def hypervisor_statistics(
    ctx: RequestContext = Depends(authorize("compute:hypervisors:statistics")), runtime=Depends(get_runtime)
):
    hosts, _ = _rows(runtime)
    r = runtime.compute.ratios
    stats = {
        k: 0
        for k in (
            "count",
            "vcpus",
            "memory_mb",
            "local_gb",
            "vcpus_used",
            "memory_mb_used",
            "local_gb_used",
            "free_ram_mb",
            "free_disk_gb",
            "current_workload",
            "running_vms",
            "disk_available_least",
        )
    }
    for h in hosts:
        stats["count"] += 1
        for k in ("vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used", "running_vms"):
            stats[k] += getattr(h, k)
        stats["free_ram_mb"] += int(h.memory_mb * r.ram) - h.memory_mb_used
        stats["free_disk_gb"] += int(h.local_gb * r.disk) - h.local_gb_used
        stats["disk_available_least"] += int(h.local_gb * r.disk) - h.local_gb_used
    return reply({"hypervisor_statistics": stats})


@router.get("/v2.1/os-hypervisors/{hypervisor_id}")
def show_hypervisor(
    hypervisor_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:hypervisors:show")),
    runtime=Depends(get_runtime),
):
    version = version_of(request)
    found = find_hypervisor(runtime, hypervisor_id, version)
    if found is None:
        raise NotFound(f"Hypervisor with ID {hypervisor_id} could not be found.")
    h, svc = found
    servers = _servers_on(runtime, h.name) if _with_servers(request, version) else None
    return reply({"hypervisor": _hypervisor(runtime, version, h, svc, True, servers)})


def find_hypervisor(runtime, hypervisor_id: str, version: tuple[int, int]) -> tuple[HostRecord, ServiceRecord] | None:
    """The host and compute service of a hypervisor id: the host's uuid from 2.53 (400 for
    anything else, as Nova), its service's integer id before."""
    if version >= (2, 53):
        try:
            uuid.UUID(hypervisor_id)
        except ValueError:
            raise BadRequest(f"Invalid uuid {hypervisor_id}") from None
    hosts, services = _rows(runtime)
    for h in hosts:
        svc = services.get(h.name)
        if svc is None:
            continue
        if (h.id == hypervisor_id) if version >= (2, 53) else (str(svc.id) == hypervisor_id):
            return h, svc
    return None


def _service_view(runtime, row: ServiceRecord, version: tuple[int, int]) -> dict:
    """A service: ``forced_down`` from 2.11, its uuid as ``id`` from 2.53."""
    item: dict[str, Any] = {
        "id": service_uuid(row) if version >= (2, 53) else row.id,
        "binary": row.binary,
        "host": row.host,
        "zone": row.availability_zone,
        "status": "disabled" if row.disabled else "enabled",
        "state": "up" if _up(runtime, row.last_seen_at) and not row.forced_down else "down",
        "updated_at": iso_micro(row.last_seen_at or row.updated_at),
        "disabled_reason": row.disabled_reason,
    }
    if version >= (2, 11):
        item["forced_down"] = row.forced_down
    return item


@router.get("/v2.1/os-services")
def list_services(
    request: Request, ctx: RequestContext = Depends(authorize("compute:services:list")), runtime=Depends(get_runtime)
):
    params = request.query_params
    version = version_of(request)
    with runtime.db.session() as s:
        rows = list(s.scalars(select(ServiceRecord).order_by(ServiceRecord.id)))
    out = []
    for row in rows:
        if params.get("binary") and row.binary != params["binary"]:
            continue
        if params.get("host") and row.host != params["host"]:
            continue
        out.append(_service_view(runtime, row, version))
    return reply({"services": out})


@router.put("/v2.1/os-services/{verb}")
async def update_service(
    verb: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:services:update")),
    runtime=Depends(get_runtime),
):
    """Before 2.53 ``PUT /os-services/{enable|disable|disable-log-reason|force-down}`` with
    ``host`` and ``binary``; from 2.53 ``PUT /os-services/{service_uuid}`` with ``status``,
    ``disabled_reason`` and ``forced_down``, answered with the whole service."""
    from overcast.api.compute.common import json_body

    body = await json_body(request)
    version = version_of(request)
    if version >= (2, 53):
        return _update_service_253(runtime, verb, body, version)
    if not isinstance(body, dict) or not isinstance(body.get("host"), str) or not isinstance(body.get("binary"), str):
        raise BadRequest("Invalid input: 'host' and 'binary' are required")
    hosts = runtime.compute.hosts
    out = {"host": body["host"], "binary": body["binary"]}
    if verb in ("enable", "disable"):
        row = hosts.set_service(body["host"], body["binary"], disabled=verb == "disable")
        out["status"] = "disabled" if row.disabled else "enabled"
    elif verb == "disable-log-reason":
        reason = body.get("disabled_reason")
        if not isinstance(reason, str) or not 1 <= len(reason) <= 255:
            raise BadRequest("Invalid input for field/attribute disabled_reason.")
        row = hosts.set_service(body["host"], body["binary"], disabled=True, reason=reason)
        out.update(status="disabled", disabled_reason=row.disabled_reason)
    elif verb == "force-down" and version >= (2, 11):
        if not isinstance(body.get("forced_down"), bool):
            raise BadRequest("Invalid input for field/attribute forced_down.")
        row = hosts.set_service(body["host"], body["binary"], forced_down=body["forced_down"])
        out["forced_down"] = row.forced_down
    else:
        raise NotFound(f"Unknown action {verb}")
    return reply({"service": out})


def _update_service_253(runtime, service_id: str, body: Any, version: tuple[int, int]):
    from overcast.api.compute.server_requests import unexpected

    try:
        uuid.UUID(service_id)
    except ValueError:
        raise BadRequest(f"Invalid uuid {service_id}") from None
    if not isinstance(body, dict):
        raise BadRequest("Invalid input for the service update: the body must be an object.")
    extra = sorted(set(body) - {"status", "disabled_reason", "forced_down"})
    if extra:
        raise unexpected(extra, "service")
    status, reason = body.get("status"), body.get("disabled_reason")
    if status is not None and status not in ("enabled", "disabled"):
        raise BadRequest(f"Invalid input for field/attribute status. Value: {status}.")
    if reason is not None and (not isinstance(reason, str) or not 1 <= len(reason) <= 255):
        raise BadRequest("Invalid input for field/attribute disabled_reason.")
    if "forced_down" in body and not isinstance(body["forced_down"], bool):
        raise BadRequest("Invalid input for field/attribute forced_down.")
    if not body:
        raise BadRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.")
    if "disabled_reason" in body and status != "disabled":
        raise BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
    with runtime.db.session() as s:
        row = next((r for r in s.scalars(select(ServiceRecord)) if service_uuid(r) == service_id), None)
    if row is None:
        raise NotFound(f"Service {service_id} not found.")
    if status is None and "forced_down" not in body:
        raise BadRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.")
    hosts = runtime.compute.hosts
    if status is not None:
        row = hosts.set_service(row.host, row.binary, disabled=status == "disabled", reason=reason)
    if "forced_down" in body:
        row = hosts.set_service(row.host, row.binary, forced_down=body["forced_down"])
    return reply({"service": _service_view(runtime, row, version)})


@router.get("/v2.1/os-availability-zone")
def list_zones(
    ctx: RequestContext = Depends(authorize("compute:availability_zones:list")), runtime=Depends(get_runtime)
):
    zones = sorted({h.availability_zone for h in runtime.drivers.hosts.values()})
    return reply(
        {"availabilityZoneInfo": [{"zoneName": z, "zoneState": {"available": True}, "hosts": None} for z in zones]}
    )


@router.get("/v2.1/os-availability-zone/detail")
def list_zones_detail(
    ctx: RequestContext = Depends(authorize("compute:availability_zones:detail")), runtime=Depends(get_runtime)
):
    hosts, services = _rows(runtime)
    zones: dict[str, dict] = {}
    for h in hosts:
        svc = services.get(h.name)
        zones.setdefault(h.availability_zone, {})[h.name] = {
            COMPUTE_BINARY: {
                "available": h.enabled,
                "active": _up(runtime, h.last_heartbeat),
                "updated_at": iso_micro(h.last_heartbeat),
            }
        }
        del svc
    return reply(
        {
            "availabilityZoneInfo": [
                {"zoneName": z, "zoneState": {"available": True}, "hosts": hs} for z, hs in sorted(zones.items())
            ]
        }
    )


# --- limits and quotas ---------------------------------------------------------------------------

#: Nova (< 2.36) key -> the network service's quota that enforces it (read and written there)
_NETWORK_QUOTAS = {
    "floating_ips": "floatingip",
    "security_groups": "security_group",
    "security_group_rules": "security_group_rule",
}


def _quota_keys(version: tuple[int, int]) -> set[str]:
    """The keys of a quota set at ``version`` besides the counted ones: the limit-only ones
    (:data:`~overcast.compute.quotas.LIMITS_ONLY`) and the network ones. Nova drops the
    network ones and ``fixed_ips`` at 2.36 and the injected_file ones at 2.57."""
    from overcast.compute.quotas import LIMITS_ONLY

    keys = set(LIMITS_ONLY) | set(_NETWORK_QUOTAS)
    if version >= (2, 36):
        keys -= {"floating_ips", "fixed_ips", "security_groups", "security_group_rules"}
    if version >= (2, 57):
        keys -= {"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"}
    return keys


def _quota_set(request: Request, runtime: Any, project_id: str | None, limits: dict, used: dict | None = None) -> dict:
    """The quota set at the request's microversion: Overcast's own limits and the network
    service's for the network keys; ``used`` gives the detail form (limit/in_use/reserved).
    ``project_id`` None: the defaults."""
    from overcast.api.compute.microversion import version_of
    from overcast.compute.quotas import LIMITS_ONLY, RESOURCES

    keys = _quota_keys(version_of(request))
    values: dict[str, Any] = {k: v for k, v in limits.items() if k in RESOURCES or k in keys}
    with runtime.db.session() as s:
        network = runtime.network.quotas.limits(s, project_id) if project_id else runtime.network.quotas.defaults()
    for key in keys:
        values[key] = (
            network.get(_NETWORK_QUOTAS[key], -1) if key in _NETWORK_QUOTAS else limits.get(key, LIMITS_ONLY[key])
        )
    if used is not None:
        values = {k: {"limit": v, "in_use": used.get(k, 0), "reserved": 0} for k, v in values.items()}
    return values


def _quota_view(project_id: str, values: dict) -> dict:
    return {"id": project_id, **values}


@router.get("/v2.1/limits")
def limits(
    request: Request, ctx: RequestContext = Depends(authorize("compute:limits:show")), runtime=Depends(get_runtime)
):
    project = request.query_params.get("tenant_id") if ctx.is_admin else None
    project = project or ctx.project_id or ""
    quotas = runtime.compute.quotas
    with runtime.db.session() as s:
        lim, used = quotas.limits(s, project), quotas.usage(s, project)
    absolute = {
        "maxTotalInstances": lim["instances"],
        "maxTotalCores": lim["cores"],
        "maxTotalRAMSize": lim["ram"],
        "maxTotalKeypairs": lim["key_pairs"],
        "maxServerGroups": lim["server_groups"],
        "maxServerGroupMembers": lim["server_group_members"],
        "maxServerMeta": lim["metadata_items"],
        "maxImageMeta": 128,  # gone from 2.39
        "maxPersonality": lim["injected_files"],  # these two gone from 2.57
        "maxPersonalitySize": lim["injected_file_content_bytes"],
        "totalInstancesUsed": used["instances"],
        "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"],
        "totalServerGroupsUsed": used["server_groups"],
    }
    version = version_of(request)
    if version < (2, 36):  # the network limits, Neutron's (Nova proxies them before 2.36)
        with runtime.db.session() as s:
            net_lim = runtime.network.quotas.limits(s, project)
            net_used = runtime.network.quotas.usage(s, project)
        absolute.update(
            maxSecurityGroups=net_lim.get("security_group", -1),
            maxSecurityGroupRules=net_lim.get("security_group_rule", -1),
            maxTotalFloatingIps=net_lim.get("floatingip", -1),
            totalSecurityGroupsUsed=net_used.get("security_group", 0),
            totalFloatingIpsUsed=net_used.get("floatingip", 0),
        )
    if version >= (2, 39):
        del absolute["maxImageMeta"]
    if version >= (2, 57):
        del absolute["maxPersonality"], absolute["maxPersonalitySize"]
    return reply({"limits": {"rate": [], "absolute": absolute}})


def _check_project(ctx: RequestContext, project_id: str) -> None:
    if not ctx.can_see(project_id):
        from overcast.errors import Forbidden

        raise Forbidden(f"Policy doesn't allow quota sets of project {project_id} to be shown.")


@router.get("/v2.1/os-quota-sets/{project_id}/defaults")
def quota_defaults(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:quota_sets:show")),
    runtime=Depends(get_runtime),
):
    with runtime.db.session() as s:
        defaults = runtime.compute.quotas.class_limits(s)
    return reply({"quota_set": _quota_view(project_id, _quota_set(request, runtime, None, defaults))})


@router.get("/v2.1/os-quota-sets/{project_id}/detail")
def quota_detail(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:quota_sets:show")),
    runtime=Depends(get_runtime),
):
    _check_project(ctx, project_id)
    quotas = runtime.compute.quotas
    with runtime.db.session() as s:
        lim, used = quotas.limits(s, project_id), quotas.usage(s, project_id)
    return reply({"quota_set": _quota_view(project_id, _quota_set(request, runtime, project_id, lim, used))})


@router.get("/v2.1/os-quota-sets/{project_id}")
def quota_show(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:quota_sets:show")),
    runtime=Depends(get_runtime),
):
    _check_project(ctx, project_id)
    with runtime.db.session() as s:
        lim = runtime.compute.quotas.limits(s, project_id)
    return reply({"quota_set": _quota_view(project_id, _quota_set(request, runtime, project_id, lim))})


@router.put("/v2.1/os-quota-sets/{project_id}")
async def quota_update(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:quota_sets:update")),
    runtime=Depends(get_runtime),
):
    from overcast.compute.quotas import parse_limit

    body = wrapped(await json_body(request), "quota_set")
    body = {k: v for k, v in body.items() if k not in ("force", "id")}
    keys = _quota_keys(version_of(request))
    # the network keys (before 2.36) are the network service's quotas: set there, where they hold
    network = {
        _NETWORK_QUOTAS[k]: parse_limit(k, body.pop(k)) for k in list(body) if k in _NETWORK_QUOTAS and k in keys
    }
    stale = sorted(k for k in body if k in _NETWORK_QUOTAS or (k not in keys and k in _all_quota_keys()))
    if stale:
        raise BadRequest(f"Bad key(s) {', '.join(stale)} in quota_set")
    with runtime.db.session() as s:
        runtime.compute.quotas.set_limits(s, project_id, body)
        lim = runtime.compute.quotas.limits(s, project_id)
    if network:
        runtime.network.quotas.update(project_id, network)
    return reply({"quota_set": _quota_set(request, runtime, project_id, lim)})


def _all_quota_keys() -> set[str]:
    return _quota_keys((2, 1))


@router.delete("/v2.1/os-quota-sets/{project_id}")
def quota_delete(
    project_id: str, ctx: RequestContext = Depends(authorize("compute:quota_sets:delete")), runtime=Depends(get_runtime)
):
    with runtime.db.session() as s:
        runtime.compute.quotas.reset(s, project_id)
    return reply(None, 202)
