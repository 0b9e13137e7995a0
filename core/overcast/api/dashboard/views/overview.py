"""Usage against quotas: instances, vCPUs, RAM, volumes, gigabytes, floating IPs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.api.dashboard.client import ApiClient, ApiError
from overcast.api.dashboard.pages import api, render, session_of
from overcast.api.dashboard.routing import DashboardRoute
from overcast.api.dashboard.views.auth import user_projects

router = APIRouter(route_class=DashboardRoute)


def meter(label: str, used: int | float, limit: int | float, unit: str = "") -> dict[str, Any]:
    unlimited = limit is None or limit < 0
    percent = 0 if unlimited or not limit else min(100, round(100 * used / limit))
    return {"label": label, "used": used, "limit": "∞" if unlimited else limit, "unit": unit, "percent": percent}


async def _try(client: ApiClient, path: str) -> Any:
    try:
        return await client.get(path)
    except ApiError:
        return None


@router.get("/overview")
async def overview(request: Request) -> Response:
    session = session_of(request)
    meters = []
    async with api(request, session) as client:
        compute = await _try(client, "/compute/v2.1/limits")
        if compute:
            a = compute["limits"]["absolute"]
            meters += [
                meter("Instances", a.get("totalInstancesUsed", 0), a.get("maxTotalInstances", -1)),
                meter("vCPUs", a.get("totalCoresUsed", 0), a.get("maxTotalCores", -1)),
                meter("RAM", a.get("totalRAMUsed", 0), a.get("maxTotalRAMSize", -1), "MiB"),
            ]
        volume = await _try(client, f"/volume/v3/{session.project_id}/limits")
        if volume:
            a = volume["limits"]["absolute"]
            meters += [
                meter("Volumes", a.get("totalVolumesUsed", 0), a.get("maxTotalVolumes", -1)),
                meter("Volume storage", a.get("totalGigabytesUsed", 0), a.get("maxTotalVolumeGigabytes", -1), "GiB"),
            ]
        quota = await _try(client, f"/networking/v2.0/quotas/{session.project_id}")
        fips = await _try(client, "/networking/v2.0/floatingips")
        if quota and fips is not None:
            meters.append(meter("Floating IPs", len(fips.get("floatingips", [])), quota["quota"].get("floatingip", -1)))
    return render(request, "overview.html", session, meters=meters, projects=await user_projects(request, session))
