"""``os-quota-sets``, ``limits`` and ``os-services`` (the volume backends)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.volume import views
from overcast.api.volume.common import ApiVersion, Version, body_of, check_project, json_body, reply, truthy
from overcast.context import RequestContext
from overcast.errors import BadRequest, Forbidden, NotFound
from overcast.runtime import Runtime
from overcast.volume.quotas import RESOURCES

router = APIRouter()

#: keys Cinder shows that Overcast does not limit (always unlimited).
UNLIMITED_KEYS = ("groups", "per_volume_gigabytes")


def _quota_set(runtime: Runtime, project: str, usage: bool) -> dict[str, Any]:
    svc = runtime.service("volume")
    with runtime.db.session() as s:
        limits, used = svc.quotas.limits(s, project), svc.quotas.usage(s, project)
    out: dict[str, Any] = {"id": project}
    for key in RESOURCES:
        out[key] = {"limit": limits[key], "in_use": used[key], "reserved": 0, "allocated": 0} if usage else limits[key]
    for key in UNLIMITED_KEYS:
        out[key] = {"limit": -1, "in_use": 0, "reserved": 0, "allocated": 0} if usage else -1
    return out


def _may_see(ctx: RequestContext, target: str) -> None:
    if target != ctx.project_id and not ctx.is_admin:
        raise Forbidden(f"Policy doesn't allow showing the quotas of project {target}.")


@router.get("/os-quota-sets/{target}")
def show_quotas(
    project_id: str,
    target: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:quotas:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    _may_see(ctx, target)
    return reply(
        {"quota_set": _quota_set(runtime, target, truthy(request.query_params.get("usage", "false")))}, 200, version
    )


@router.get("/os-quota-sets/{target}/defaults")
def default_quotas(
    project_id: str,
    target: str,
    ctx: RequestContext = Depends(authorize("volume:quotas:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    defaults = dict(runtime.service("volume").quotas.defaults)
    return reply({"quota_set": {"id": target, **defaults, **{k: -1 for k in UNLIMITED_KEYS}}}, 200, version)


@router.put("/os-quota-sets/{target}")
async def update_quotas(
    project_id: str,
    target: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:quotas:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "quota_set")
    changes: dict[str, int] = {}
    for key, value in body.items():
        if key in ("tenant_id", "id") or key in UNLIMITED_KEYS:
            continue
        if key not in RESOURCES:
            raise BadRequest(f"Bad key(s) in quota set: {key}")
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, str))
            or not str(value).lstrip("-").isdigit()
            or int(value) < -1
        ):
            raise BadRequest(f"Invalid input received: quota {key} must be an integer >= -1, got {value!r}.")
        changes[key] = int(value)
    with runtime.db.session() as s:
        runtime.service("volume").quotas.set_limits(s, target, changes)
    return reply(
        {"quota_set": {k: v for k, v in _quota_set(runtime, target, False).items() if k != "id"}}, 200, version
    )


@router.delete("/os-quota-sets/{target}")
def reset_quotas(
    project_id: str,
    target: str,
    ctx: RequestContext = Depends(authorize("volume:quotas:delete")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    svc = runtime.service("volume")
    with runtime.db.session() as s:
        svc.quotas.set_limits(s, target, svc.quotas.defaults)
    return reply(None, 200, version)


@router.get("/limits")
def limits(
    project_id: str,
    ctx: RequestContext = Depends(authorize("volume:limits:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    q = _quota_set(runtime, project_id, usage=True)
    absolute = {
        "maxTotalVolumes": q["volumes"]["limit"],
        "totalVolumesUsed": q["volumes"]["in_use"],
        "maxTotalVolumeGigabytes": q["gigabytes"]["limit"],
        "totalGigabytesUsed": q["gigabytes"]["in_use"],
        "maxTotalSnapshots": q["snapshots"]["limit"],
        "totalSnapshotsUsed": q["snapshots"]["in_use"],
        "maxTotalBackups": q["backups"]["limit"],
        "totalBackupsUsed": q["backups"]["in_use"],
        "maxTotalBackupGigabytes": q["backup_gigabytes"]["limit"],
        "totalBackupGigabytesUsed": q["backup_gigabytes"]["in_use"],
    }
    return reply({"limits": {"rate": [], "absolute": absolute}}, 200, version)


def _service(row: Any, version: ApiVersion) -> dict[str, Any]:
    """A cinder-volume service (one per backend) at ``version``: ``cluster`` from 3.7 and
    ``backend_state`` from 3.49, as Cinder adds them."""
    out: dict[str, Any] = {
        "binary": "cinder-volume",
        "host": f"overcast@{row.name}",
        "zone": row.availability_zone,
        "status": "disabled" if row.disabled else "enabled",
        "state": "up" if row.up else "down",
        "updated_at": views.iso(row.last_seen_at),
        "disabled_reason": row.disabled_reason,
        "replication_status": "disabled",
        "frozen": False,
        "active_backend_id": None,
    }
    if version.at_least(7):
        out["cluster"] = None
    if version.at_least(49):
        out["backend_state"] = "up" if row.up else "down"
    return out


@router.get("/os-services")
def list_services(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:services:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    backends = runtime.service("volume").backends
    for name in backends.names():
        backends.refresh(name)
    rows = [_service(r, version) for r in backends.records()]
    q = request.query_params
    if q.get("binary"):
        rows = [r for r in rows if r["binary"] == q["binary"]]
    if q.get("host"):
        # Cinder matches the host alone or host@backend (and host@backend#pool)
        rows = [r for r in rows if _host_matches(r["host"], q["host"])]
    return reply({"services": rows}, 200, version)


def _host_matches(service_host: str, wanted: str) -> bool:
    return service_host == wanted or service_host.startswith((wanted + "@", wanted + "#"))


@router.put("/os-services/{action}")
async def update_service(
    project_id: str,
    action: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:services:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    """enable, disable and disable-log-reason a ``cinder-volume`` service (a backend);
    freeze and thaw are refused: no Overcast backend replicates, so none can fail over."""
    check_project(project_id, ctx)
    body = await json_body(request) or {}
    if not isinstance(body, dict):
        raise BadRequest("Malformed request body.")
    backends = runtime.service("volume").backends
    host = str(body.get("host") or "")
    known = [r for r in backends.records() if f"overcast@{r.name}" == host.split("#")[0]]
    if action in ("freeze", "thaw"):
        if not known:
            raise BadRequest(f"Invalid input received: Host {host} not found.")
        raise BadRequest(f"Invalid input received: {action} needs a replicating backend and {host} does not replicate.")
    if action not in ("enable", "disable", "disable-log-reason"):
        raise NotFound("Unknown action")
    binary = body.get("binary", body.get("service"))
    if not host or not binary:
        raise BadRequest("Invalid input received: host and binary are required.")
    reason = body.get("disabled_reason")
    if action == "disable-log-reason" and (not isinstance(reason, str) or not reason.strip() or len(reason) > 255):
        raise BadRequest("Disabled reason contains invalid characters or is too long")
    if not known:
        raise NotFound(f"Host {host} could not be found.")
    if binary != "cinder-volume":
        raise NotFound(f"Service {binary} could not be found.")
    disabled = action != "enable"
    for row in known:
        backends.set_disabled(row.name, disabled, reason if action == "disable-log-reason" else None)
    out: dict[str, Any] = {
        "host": host,
        "service": binary,
        "binary": binary,
        "disabled": disabled,
        "status": "disabled" if disabled else "enabled",
    }
    if action != "disable":
        out["disabled_reason"] = reason if disabled else None
    return reply(out, 200, version)
