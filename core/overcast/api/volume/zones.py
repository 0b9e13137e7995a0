"""``/volume/v3/{project_id}/os-availability-zone``: the zones the volume backends are in."""

from __future__ import annotations

from fastapi import Depends
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.api.volume.common import ApiVersion, Version, check_project, reply
from overcast.context import RequestContext
from overcast.runtime import Runtime

router = ResourceRouter()


@router.get("/os-availability-zone")
def list_zones(
    project_id: str,
    ctx: RequestContext = Depends(authorize("volume:zones:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    zones: dict[str, bool] = {}
    for row in runtime.service("volume").backends.records():
        zones[row.availability_zone] = zones.get(row.availability_zone, False) or (row.up and not row.disabled)
    body = [{"zoneName": name, "zoneState": {"available": up}} for name, up in sorted(zones.items())]
    return reply({"availabilityZoneInfo": body}, 200, version)
