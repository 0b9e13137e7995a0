"""Stacks (orchestration): list, launch from a template file, one stack's outputs, resources
and events, delete. A client of the orchestration API like every other page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from overcast.api.dashboard.pages import api, back, check_csrf, render, session_of
from overcast.api.dashboard.routing import DashboardRoute
from overcast.api.dashboard.views.auth import user_projects
from overcast.errors import BadRequest

router = APIRouter(route_class=DashboardRoute)


def _base(project_id: str) -> str:
    return f"/orchestration/v1/{project_id}/stacks"


def parameters_of(text: str) -> dict[str, str]:
    """``key=value`` lines (as ``openstack stack create --parameter``)."""
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"Parameters line {number}: expected key=value, got {line!r}.")
        out[key.strip()] = value.strip()
    return out


@router.get("/stacks")
async def stacks(request: Request) -> Response:
    session = session_of(request)
    async with api(request, session) as client:
        listing = (await client.get(_base(session.project_id)))["stacks"]
    return render(request, "stacks.html", session, stacks=listing, projects=await user_projects(request, session))


@router.post("/stacks")
async def stack_action(request: Request) -> Response:
    session = session_of(request)
    form = await check_csrf(request, session)
    base = _base(session.project_id)
    action = form.get("action", "launch")
    async with api(request, session) as client:
        if action == "launch":
            upload = form.get("template_file")
            template = ""
            if isinstance(upload, UploadFile) and upload.filename:
                template = (await upload.read()).decode("utf-8", errors="replace")
            template = template or str(form.get("template", ""))
            if not template.strip():
                raise BadRequest("Choose a template file or paste a template.")
            name = str(form.get("name", "")).strip()
            body: dict[str, Any] = {
                "stack_name": name,
                "template": template,
                "parameters": parameters_of(str(form.get("parameters", ""))),
                "disable_rollback": form.get("rollback") != "on",
            }
            await client.post(base, json=body)
            return back(f"/stacks/{quote(name, safe='')}", message=f"Stack {name} is being created.")
        if action == "delete":
            name, sid = str(form.get("stack_name", "")), str(form.get("stack_id", ""))
            await client.delete(f"{base}/{quote(name, safe='')}/{sid}", expect_json=False)
            return back("/stacks", message=f"Stack {name} is being deleted.")
    raise BadRequest(f"Unknown action {action!r}.")


@router.get("/stacks/{name}")
async def stack(request: Request, name: str) -> Response:
    session = session_of(request)
    base = _base(session.project_id)
    async with api(request, session) as client:
        listing = [s for s in (await client.get(base))["stacks"] if s["stack_name"] == name]
        if not listing:
            return render(
                request, "error.html", session, status=404, error_text=f"The Stack ({name}) could not be found."
            )
        path = f"{base}/{quote(name, safe='')}/{listing[0]['id']}"
        shown = (await client.get(path))["stack"]
        resources = (await client.get(f"{path}/resources"))["resources"]
        events = (await client.get(f"{path}/events?sort_dir=desc&limit=50"))["events"]
    return render(
        request,
        "stack.html",
        session,
        stack=shown,
        resources=resources,
        events=events,
        projects=await user_projects(request, session),
    )
