"""Instances: list (refreshed live while any is changing), launch, actions, console, volumes."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.api.dashboard.client import ApiError
from overcast.api.dashboard.pages import api, back, check_csrf, render, session_of
from overcast.api.dashboard.routing import DashboardRoute
from overcast.api.dashboard.views.auth import user_projects
from overcast.errors import BadRequest

router = APIRouter(route_class=DashboardRoute)
NOVA = "/compute/v2.1"

#: form action -> the Nova action body it sends
ACTIONS: dict[str, Any] = {
    "start": {"os-start": None},
    "stop": {"os-stop": None},
    "reboot": {"reboot": {"type": "SOFT"}},
    "hard-reboot": {"reboot": {"type": "HARD"}},
    "pause": {"pause": None},
    "unpause": {"unpause": None},
    "suspend": {"suspend": None},
    "resume": {"resume": None},
    "migrate": {"migrate": None},
}


def changing(servers: list[dict[str, Any]]) -> bool:
    return any(
        s.get("status") in ("BUILD", "MIGRATING", "REBOOT", "HARD_REBOOT", "RESIZE") or s.get("OS-EXT-STS:task_state")
        for s in servers
    )


async def _servers(request: Request, session: Any) -> list[dict[str, Any]]:
    async with api(request, session) as client:
        return (await client.get(f"{NOVA}/servers/detail"))["servers"]


@router.get("/instances")
async def instances(request: Request) -> Response:
    session = session_of(request)
    async with api(request, session) as client:
        servers = (await client.get(f"{NOVA}/servers/detail"))["servers"]
        flavors = (await client.get(f"{NOVA}/flavors/detail"))["flavors"]
        images = (await client.get("/image/v2/images"))["images"]
        try:
            networks = (await client.get("/networking/v2.0/networks"))["networks"]
        except ApiError:
            networks = []
        try:
            keypairs = [k["keypair"] for k in (await client.get(f"{NOVA}/os-keypairs"))["keypairs"]]
        except ApiError:
            keypairs = []
    return render(
        request,
        "instances.html",
        session,
        servers=servers,
        flavors=flavors,
        images=images,
        networks=networks,
        keypairs=keypairs,
        changing=changing(servers),
        projects=await user_projects(request, session),
    )


@router.get("/instances/rows")
async def instance_rows(request: Request) -> Response:
    """The table body alone, for htmx to refresh while servers are building."""
    session = session_of(request)
    servers = await _servers(request, session)
    return render(request, "instance_rows.html", session, servers=servers, changing=changing(servers))


@router.post("/instances")
async def launch(request: Request) -> Response:
    session = session_of(request)
    form = await check_csrf(request, session)
    name = form.get("name", "").strip()
    if not name:
        raise BadRequest("An instance needs a name.")
    server: dict[str, Any] = {"name": name, "flavorRef": form.get("flavor", ""), "imageRef": form.get("image", "")}
    network = form.get("network", "")
    server["networks"] = [{"uuid": network}] if network else "none"
    if form.get("key_name"):
        server["key_name"] = form["key_name"]
    if form.get("user_data"):
        server["user_data"] = base64.b64encode(form["user_data"].encode()).decode()
    async with api(request, session) as client:
        created = await client.post(f"{NOVA}/servers", json={"server": server})
    return back(f"/instances/{created['server']['id']}", message=f"Launching {name}.")


@router.get("/instances/{server_id}")
async def instance_detail(request: Request, server_id: str) -> Response:
    session = session_of(request)
    async with api(request, session) as client:
        server = (await client.get(f"{NOVA}/servers/{server_id}"))["server"]
        attachments = (await client.get(f"{NOVA}/servers/{server_id}/os-volume_attachments"))["volumeAttachments"]
        try:
            console = (
                await client.post(f"{NOVA}/servers/{server_id}/action", json={"os-getConsoleOutput": {"length": 200}})
            )["output"]
        except ApiError as exc:
            console = f"(no console output: {exc.message})"
        try:
            volumes = [
                v
                for v in (await client.get(f"/volume/v3/{session.project_id}/volumes/detail"))["volumes"]
                if v["status"] == "available"
            ]
        except ApiError:
            volumes = []
    return render(
        request,
        "instance.html",
        session,
        server=server,
        attachments=attachments,
        console=console,
        volumes=volumes,
        actions=list(ACTIONS),
        projects=await user_projects(request, session),
    )


@router.post("/instances/{server_id}/console/{kind}")
async def instance_console(request: Request, server_id: str, kind: str) -> Response:
    """A one-time console URL (``serial`` or ``novnc``) from Nova's remote-consoles API
    (issue 17), as JSON for the page's script; the API's error message if there is none."""
    from fastapi.responses import JSONResponse

    session = session_of(request)
    await check_csrf(request, session)
    if kind not in ("serial", "novnc"):
        return JSONResponse({"error": f"Unavailable console type {kind}."}, status_code=400)
    body = {"remote_console": {"protocol": "serial" if kind == "serial" else "vnc", "type": kind}}
    try:
        async with api(request, session) as client:
            answer = await client.post(
                f"{NOVA}/servers/{server_id}/remote-consoles",
                json=body,
                headers={"OpenStack-API-Version": "compute 2.6"},
            )
    except ApiError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    return JSONResponse({"url": answer["remote_console"]["url"]})


@router.post("/instances/{server_id}/action")
async def instance_action(request: Request, server_id: str) -> Response:
    session = session_of(request)
    form = await check_csrf(request, session)
    action = form.get("action", "")
    async with api(request, session) as client:
        if action == "delete":
            await client.delete(f"{NOVA}/servers/{server_id}", expect_json=False)
            return back("/instances", message="Instance is being deleted.")
        if action == "snapshot":
            name = form.get("snapshot_name", "").strip() or "snapshot"
            await client.post(
                f"{NOVA}/servers/{server_id}/action", json={"createImage": {"name": name}}, expect_json=False
            )
            return back(f"/instances/{server_id}", message=f"Snapshot {name} is being created.")
        if action not in ACTIONS:
            raise BadRequest(f"Unknown action {action!r}.")
        await client.post(f"{NOVA}/servers/{server_id}/action", json=ACTIONS[action], expect_json=False)
    return back(f"/instances/{server_id}", message=f"{action} requested.")


@router.post("/instances/{server_id}/volumes")
async def attach_volume(request: Request, server_id: str) -> Response:
    session = session_of(request)
    form = await check_csrf(request, session)
    async with api(request, session) as client:
        if form.get("detach"):
            await client.delete(f"{NOVA}/servers/{server_id}/os-volume_attachments/{form['detach']}", expect_json=False)
            return back(f"/instances/{server_id}", message="Volume is being detached.")
        await client.post(
            f"{NOVA}/servers/{server_id}/os-volume_attachments",
            json={"volumeAttachment": {"volumeId": form.get("volume_id", "")}},
        )
    return back(f"/instances/{server_id}", message="Volume is being attached.")
