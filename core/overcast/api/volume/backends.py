"""What an admin sees of the volume backends besides ``os-services``: ``scheduler-stats/get_pools``
(one pool per backend, named ``host@backend#pool``), ``capabilities/{host}`` and ``os-hosts``
(the controller's scheduler and backup services and each backend's volume service)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.api.volume import views
from overcast.api.volume.common import ApiVersion, Version, check_project, reply, truthy
from overcast.context import RequestContext
from overcast.db.models.volume import Volume, VolumeBackendService, VolumeSnapshot
from overcast.errors import NotFound
from overcast.runtime import Runtime
from overcast.types import BackendStats
from overcast.volume.scheduler import VENDOR, capabilities

router = ResourceRouter()

HOST = "overcast"  # the controller, which runs the scheduler and drives non-host-local backends


def _protocol(row: VolumeBackendService) -> str:
    return str(_reported(row)["storage_protocol"])


def _reported(row: VolumeBackendService) -> dict[str, Any]:
    """The scheduler's view of the backend, from its last recorded stats."""
    stats = row.stats or {}
    return capabilities(
        row.name,
        BackendStats(
            total_gb=row.total_gb,
            free_gb=row.free_gb,
            thin_provisioning=bool(stats.get("thin_provisioning")),
            connection_types=frozenset(stats.get("connection_types") or ()),
        ),
    )


def _records(runtime: Runtime) -> list[VolumeBackendService]:
    backends = runtime.service("volume").backends
    for name in backends.names():
        backends.refresh(name)
    return backends.records()


def _capabilities(row: VolumeBackendService) -> dict[str, Any]:
    stats = row.stats or {}
    return {
        **_reported(row),
        "updated": views.iso(row.last_seen_at),
        "timestamp": views.iso(row.last_seen_at),
        "total_capacity_gb": row.total_gb,
        "free_capacity_gb": row.free_gb,
        "reserved_percentage": 0,
        "max_over_subscription_ratio": stats.get("max_over_subscription_ratio", 1.0),
        "provisioned_capacity_gb": stats.get("provisioned_gb", 0.0),
        "multiattach": True,
    }


@router.get("/scheduler-stats/get_pools")
def get_pools(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:pools:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    q = request.query_params
    detail = truthy(q.get("detail", "false"))
    pools = []
    for row in _records(runtime):
        name = f"{HOST}@{row.name}#{row.name}"
        if q.get("name") and q["name"] != name:
            continue
        if q.get("volume_backend_name") and q["volume_backend_name"] != row.name:
            continue
        pools.append({"name": name, "capabilities": _capabilities(row)} if detail else {"name": name})
    return reply({"pools": pools}, 200, version)


def _backend_named(runtime: Runtime, host: str) -> VolumeBackendService:
    base = host.split("#", 1)[0]
    for row in _records(runtime):
        if base == f"{HOST}@{row.name}":
            return row
    raise NotFound(f"Host {host} could not be found.")


@router.get("/capabilities/{host}")
def show_capabilities(
    project_id: str,
    host: str,
    ctx: RequestContext = Depends(authorize("volume:capabilities:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    row = _backend_named(runtime, host)
    out: dict[str, Any] = {
        "namespace": f"OS::Storage::Capabilities::{HOST}@{row.name}",
        "vendor_name": VENDOR,
        "volume_backend_name": row.name,
        "pool_name": None,
        "driver_version": str(_reported(row)["driver_version"]),
        "storage_protocol": _protocol(row),
        "display_name": None,
        "description": None,
        "visibility": None,
        "replication_targets": [],
        "properties": {
            "thin_provisioning": {
                "title": "Thin Provisioning",
                "description": "Sets thin provisioning.",
                "type": "boolean",
            },
        },
    }
    return reply(out, 200, version)


@router.get("/os-hosts")
def list_hosts(
    project_id: str,
    ctx: RequestContext = Depends(authorize("volume:hosts:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    rows = _records(runtime)
    seen = max((r.last_seen_at for r in rows if r.last_seen_at), default=None)
    hosts = [_host(HOST, "cinder-scheduler", "nova", True, False, seen)]
    if runtime.drivers.backup is not None:
        hosts.append(_host(HOST, "cinder-backup", "nova", True, False, seen))
    for row in rows:
        hosts.append(
            _host(f"{HOST}@{row.name}", "cinder-volume", row.availability_zone, row.up, row.disabled, row.last_seen_at)
        )
    return reply({"hosts": hosts}, 200, version)


def _host(name: str, service: str, zone: str, up: bool, disabled: bool, seen: Any) -> dict[str, Any]:
    return {
        "host_name": name,
        "service": service,
        "zone": zone,
        "service-status": "available" if up else "unavailable",
        "service-state": "disabled" if disabled else "enabled",
        "last-update": views.iso(seen),
    }


@router.get("/os-hosts/{host}")
def show_host(
    project_id: str,
    host: str,
    ctx: RequestContext = Depends(authorize("volume:hosts:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    """A cinder-volume host's usage: the total, then each project's (404 unless the host runs
    an enabled volume service, as Cinder)."""
    check_project(project_id, ctx)
    row = _backend_named(runtime, host)
    if row.disabled:
        raise NotFound(f"Host {host} could not be found (its volume service is disabled).")
    with runtime.db.session() as s:
        vols = dict(
            (
                (p, (n, g))
                for p, n, g in s.execute(
                    select(Volume.project_id, func.count(), func.coalesce(func.sum(Volume.size), 0))
                    .where(Volume.backend == row.name)
                    .group_by(Volume.project_id)
                ).all()
            )
        )
        snaps = dict(
            (
                (p, (n, g))
                for p, n, g in s.execute(
                    select(VolumeSnapshot.project_id, func.count(), func.coalesce(func.sum(VolumeSnapshot.size), 0))
                    .join(Volume, Volume.id == VolumeSnapshot.volume_id)
                    .where(Volume.backend == row.name)
                    .group_by(VolumeSnapshot.project_id)
                ).all()
            )
        )

    def resource(project: str, v: tuple[int, int], sn: tuple[int, int]) -> dict[str, Any]:
        return {
            "resource": {
                "host": host,
                "project": project,
                "volume_count": str(v[0]),
                "total_volume_gb": str(v[1]),
                "snapshot_count": str(sn[0]),
                "total_snapshot_gb": str(sn[1]),
            }
        }

    total_v = (sum(n for n, _ in vols.values()), sum(g for _, g in vols.values()))
    total_s = (sum(n for n, _ in snaps.values()), sum(g for _, g in snaps.values()))
    out = [resource("(total)", total_v, total_s)]
    for project in sorted(set(vols) | set(snaps)):
        out.append(resource(project, vols.get(project, (0, 0)), snaps.get(project, (0, 0))))
    return reply({"host": out}, 200, version)
