"""Log in (password → a project-scoped token), switch project, log out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from overcast.api.dashboard.client import ApiClient, ApiError
from overcast.api.dashboard.pages import api, back, check_csrf, render, session_of, set_session
from overcast.api.dashboard.routing import DashboardRoute
from overcast.api.dashboard.session import Session

router = APIRouter(route_class=DashboardRoute)

TOKENS = "/identity/v3/auth/tokens"


def _password_auth(username: str, password: str, project: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": username, "domain": {"id": "default"}, "password": password}},
            }
        }
    }
    if project:
        body["auth"]["scope"] = {"project": project}
    return body


async def _issue(client: ApiClient, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    response = await client.request("POST", TOKENS, expect_json=False, json=body)
    return response.headers["x-subject-token"], response.json()["token"]


def _session_from(token: str, data: dict[str, Any]) -> Session:
    project = data.get("project") or {}
    expires = data.get("expires_at", "")
    try:
        expires_at = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
    except ValueError:
        expires_at = 0.0
    return Session(
        token=token,
        user_id=data["user"]["id"],
        user_name=data["user"].get("name", ""),
        project_id=project.get("id", ""),
        project_name=project.get("name", ""),
        roles=[r["name"] for r in data.get("roles", [])],
        expires_at=expires_at,
    )


async def _scoped_token(
    client: ApiClient, username: str, password: str, project_name: str
) -> tuple[str, dict[str, Any]]:
    if project_name:
        return await _issue(
            client, _password_auth(username, password, {"name": project_name, "domain": {"id": "default"}})
        )
    unscoped, _ = await _issue(client, _password_auth(username, password, None))
    projects = (await client.get("/identity/v3/auth/projects", headers={"X-Auth-Token": unscoped}))["projects"]
    if not projects:
        raise ApiError(401, "You have no role on any project; ask an administrator for one.")
    first = sorted(projects, key=lambda p: p["name"])[0]
    body = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": unscoped}},
            "scope": {"project": {"id": first["id"]}},
        }
    }
    return await _issue(client, body)


@router.get("/")
async def home(request: Request) -> Response:
    return RedirectResponse("/overview", status_code=303)


@router.get("/login")
async def login_page(request: Request) -> Response:
    return render(
        request, "login.html", next_path=request.query_params.get("next", "/overview"), username="", project=""
    )


@router.post("/login")
async def login(request: Request) -> Response:
    form = cast(dict[str, str], dict(await request.form()))  # the login form has no file fields
    username, password = form.get("username", "").strip(), form.get("password", "")
    project = form.get("project", "").strip()
    next_path = form.get("next", "/overview")
    if not next_path.startswith("/") or next_path.startswith("//"):
        next_path = "/overview"
    async with api(request) as client:
        try:
            token, data = await _scoped_token(client, username, password, project)
        except ApiError as exc:
            return render(
                request,
                "login.html",
                status=401,
                next_path=next_path,
                username=username,
                project=project,
                error=exc.message,
            )
    return set_session(RedirectResponse(next_path, status_code=303), request, _session_from(token, data))


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = session_of(request)
    await check_csrf(request, session)
    async with api(request, session) as client:
        try:
            await client.delete(TOKENS, headers={"X-Subject-Token": session.token}, expect_json=False)
        except ApiError:
            pass  # the token may already be invalid; the cookie goes either way
    return set_session(back("/login", message="You have logged out."), request, None)


@router.post("/switch-project")
async def switch_project(request: Request) -> Response:
    session = session_of(request)
    form = await check_csrf(request, session)
    body = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": session.token}},
            "scope": {"project": {"id": form.get("project_id", "")}},
        }
    }
    async with api(request, session) as client:
        token, data = await _issue(client, body)
    new = _session_from(token, data)
    return set_session(back("/overview", message=f"Now working in project {new.project_name}."), request, new)


async def user_projects(request: Request, session: Session) -> list[dict[str, Any]]:
    """The projects the user may switch to (for the header's selector)."""
    async with api(request, session) as client:
        try:
            return sorted((await client.get("/identity/v3/auth/projects"))["projects"], key=lambda p: p["name"])
        except ApiError:
            return []
