"""Volumes: create, extend, snapshot, attach/detach, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.api.dashboard.client import ApiError
from overcast.api.dashboard.pages import api, back, check_csrf, render, session_of
from overcast.api.dashboard.routing import DashboardRoute
from overcast.api.dashboard.views.auth import user_projects
from overcast.errors import BadRequest

router = APIRouter(route_class=DashboardRoute)


def _int(value: str, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{what} must be a whole number of GiB.") from None
    return number


@router.get("/volumes")
async def volumes(request: Request) -> Response:
    session = session_of(request)
    base = f"/volume/v3/{session.project_id}"
    async with api(request, session) as client:
        listing = (await client.get(f"{base}/volumes/detail"))["volumes"]
        snapshots = (await client.get(f"{base}/snapshots/detail"))["snapshots"]
        try:
            types = (await client.get(f"{base}/types"))["volume_types"]
        except ApiError:
            types = []
        servers = (await client.get("/compute/v2.1/servers"))["servers"]
    return render(
        request,
        "volumes.html",
        session,
        volumes=listing,
        snapshots=snapshots,
        types=types,
        servers=servers,
        projects=await user_projects(request, session),
    )


@router.post("/volumes")
async def volume_action(request: Request) -> Response:
    session = session_of(request)
    form = await check_csrf(request, session)
    base = f"/volume/v3/{session.project_id}"
    action = form.get("action", "create")
    volume_id = form.get("volume_id", "")
    async with api(request, session) as client:
        if action == "create":
            body: dict[str, Any] = {"name": form.get("name", "").strip(), "size": _int(form.get("size", ""), "Size")}
            if form.get("volume_type"):
                body["volume_type"] = form["volume_type"]
            await client.post(f"{base}/volumes", json={"volume": body})
            return back("/volumes", message=f"Volume {body['name']} is being created.")
        if action == "extend":
            await client.post(
                f"{base}/volumes/{volume_id}/action",
                json={"os-extend": {"new_size": _int(form.get("size", ""), "New size")}},
                expect_json=False,
            )
            return back("/volumes", message="Volume is being extended.")
        if action == "snapshot":
            await client.post(
                f"{base}/snapshots", json={"snapshot": {"volume_id": volume_id, "name": form.get("name", "").strip()}}
            )
            return back("/volumes", message="Snapshot is being created.")
        if action == "attach":
            await client.post(
                f"/compute/v2.1/servers/{form.get('server_id', '')}/os-volume_attachments",
                json={"volumeAttachment": {"volumeId": volume_id}},
            )
            return back("/volumes", message="Volume is being attached.")
        if action == "detach":
            await client.delete(
                f"/compute/v2.1/servers/{form.get('server_id', '')}/os-volume_attachments/{volume_id}",
                expect_json=False,
            )
            return back("/volumes", message="Volume is being detached.")
        if action == "delete":
            await client.delete(f"{base}/volumes/{volume_id}", expect_json=False)
            return back("/volumes", message="Volume is being deleted.")
        if action == "delete-snapshot":
            await client.delete(f"{base}/snapshots/{form.get('snapshot_id', '')}", expect_json=False)
            return back("/volumes", message="Snapshot is being deleted.")
    raise BadRequest(f"Unknown action {action!r}.")
