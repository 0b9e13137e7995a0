"""Identity administration (admins): projects, users, roles on projects."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.api.dashboard.client import ApiError
from overcast.api.dashboard.pages import api, back, check_csrf, render, session_of
from overcast.api.dashboard.routing import DashboardRoute
from overcast.api.dashboard.views.auth import user_projects
from overcast.errors import BadRequest

router = APIRouter(route_class=DashboardRoute)
KEYSTONE = "/identity/v3"


@router.get("/projects")
async def identity(request: Request) -> Response:
    session = session_of(request)
    async with api(request, session) as client:
        try:
            projects = (await client.get(f"{KEYSTONE}/projects"))["projects"]
        except ApiError as exc:
            if exc.status != 403:
                raise
            # listing every project is an admin's (as in Keystone): others see their own
            projects = (await client.get(f"{KEYSTONE}/auth/projects"))["projects"]
        users = (await client.get(f"{KEYSTONE}/users"))["users"]
        roles = (await client.get(f"{KEYSTONE}/roles"))["roles"]
        assignments = (await client.get(f"{KEYSTONE}/role_assignments", params={"include_names": "true"}))[
            "role_assignments"
        ]
    return render(
        request,
        "identity.html",
        session,
        all_projects=projects,
        users=users,
        roles=roles,
        assignments=assignments,
        projects=await user_projects(request, session),
    )


@router.post("/projects")
async def identity_action(request: Request) -> Response:
    session = session_of(request)
    form = await check_csrf(request, session)
    action = form.get("action", "")
    async with api(request, session) as client:
        if action == "create-project":
            await client.post(
                f"{KEYSTONE}/projects", json={"project": {"name": form.get("name", "").strip(), "domain_id": "default"}}
            )
            return back("/projects", message="Project created.")
        if action == "create-user":
            user = {"name": form.get("name", "").strip(), "password": form.get("password", ""), "domain_id": "default"}
            if form.get("project_id"):
                user["default_project_id"] = form["project_id"]
            await client.post(f"{KEYSTONE}/users", json={"user": user})
            return back("/projects", message="User created.")
        if action in ("grant", "revoke"):
            path = f"{KEYSTONE}/projects/{form.get('project_id', '')}/users/{form.get('user_id', '')}/roles/{form.get('role_id', '')}"
            await (client.put if action == "grant" else client.delete)(path, expect_json=False)
            return back("/projects", message="Role granted." if action == "grant" else "Role revoked.")
        if action in ("delete-project", "delete-user"):
            kind = "projects" if action == "delete-project" else "users"
            await client.delete(f"{KEYSTONE}/{kind}/{form.get('id', '')}", expect_json=False)
            return back("/projects", message="Deleted.")
    raise BadRequest(f"Unknown action {action!r}.")
