"""``os-quota-sets``, ``limits`` and ``os-services`` (the volume backends)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.api.volume import views
from overcast.api.volume.common import ApiVersion, Version, body_of, check_project, json_body, reply, truthy
from overcast.context import RequestContext
from overcast.errors import BadRequest, Forbidden, NotFound
from overcast.runtime import Runtime
from overcast.volume.quotas import LIMITS_ONLY, RESOURCES

router = ResourceRouter()


def _quota_set(runtime: Runtime, project: str, usage: bool) -> dict[str, Any]:
    svc = runtime.service("volume")
    with runtime.db.session() as s:
        limits, used = svc.quotas.limits(s, project), svc.quotas.usage(s, project)
    out: dict[str, Any] = {"id": project}
    for key in RESOURCES:
        out[key] = {"limit": limits[key], "in_use": used[key], "reserved": 0, "allocated": 0} if usage else limits[key]
    for key in LIMITS_ONLY:
        out[key] = {"limit": limits[key], "in_use": 0, "reserved": 0, "allocated": 0} if usage else limits[key]
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
    with runtime.db.session() as s:
        defaults = runtime.service("volume").quotas.class_limits(s)
    return reply({"quota_set": {"id": target, **defaults}}, 200, version)


def _limits(body: dict[str, Any]) -> dict[str, int]:
    """The limits a quota set or quota class set body asks for (400 for unknown keys and bad values)."""
    changes: dict[str, int] = {}
    for key, value in body.items():
        if key in ("tenant_id", "id", "class_name"):
            continue
        if key not in RESOURCES and key not in LIMITS_ONLY:
            raise BadRequest(f"Bad key(s) in quota set: {key}")
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, str))
            or not str(value).lstrip("-").isdigit()
            or int(value) < -1
        ):
            raise BadRequest(f"Invalid input received: quota {key} must be an integer >= -1, got {value!r}.")
        changes[key] = int(value)
    return changes


@router.get("/os-quota-class-sets/{class_name}")
def show_quota_class(
    project_id: str,
    class_name: str,
    ctx: RequestContext = Depends(authorize("volume:quota_classes:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        limits = runtime.service("volume").quotas.class_limits(s, class_name)
    return reply({"quota_class_set": {"id": class_name, **limits}}, 200, version)


@router.put("/os-quota-class-sets/{class_name}")
async def update_quota_class(
    project_id: str,
    class_name: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:quota_classes:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    if not class_name or len(class_name) > 255:
        raise BadRequest("Invalid input received: the quota class name must be 1 to 255 characters.")
    changes = _limits(body_of(await json_body(request), "quota_class_set"))
    quotas = runtime.service("volume").quotas
    with runtime.db.session() as s:
        quotas.set_class_limits(s, class_name, changes)
        limits = quotas.class_limits(s, class_name)
    return reply({"quota_class_set": limits}, 200, version)


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
    changes = _limits(body_of(await json_body(request), "quota_set"))
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
