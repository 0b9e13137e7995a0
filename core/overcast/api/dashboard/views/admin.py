"""Cloud administration: hosts with their driver, state and resources; loaded plugins."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.api.dashboard.pages import api, render, session_of
from overcast.api.dashboard.routing import DashboardRoute
from overcast.api.dashboard.views.auth import user_projects

router = APIRouter(route_class=DashboardRoute)


@router.get("/admin")
async def admin(request: Request) -> Response:
    session = session_of(request)
    async with api(request, session) as client:
        hypervisors = (await client.get("/compute/v2.1/os-hypervisors/detail"))["hypervisors"]
        services = (await client.get("/compute/v2.1/os-services"))["services"]
    runtime = request.app.state.runtime
    # Plugins have no REST API: the same policy table decides who may see them.
    ctx = runtime.identity.context_from_token(session.token)
    runtime.identity.enforce("dashboard:plugins:list", ctx)
    plugins = list(runtime.plugins.records.values())
    drivers = {h.name: h.driver for h in runtime.drivers.hosts.values()}
    return render(
        request,
        "admin.html",
        session,
        hypervisors=hypervisors,
        services=services,
        plugins=plugins,
        drivers=drivers,
        projects=await user_projects(request, session),
    )
