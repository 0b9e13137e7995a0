"""Object storage: containers, pseudo-folders, upload, download, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from fastapi.responses import Response, StreamingResponse

from overcast.api.dashboard.pages import api, back, check_csrf, render, session_of
from overcast.api.dashboard.routing import DashboardRoute
from overcast.api.dashboard.session import CSRF_FIELD
from overcast.api.dashboard.views.auth import user_projects
from overcast.errors import BadRequest, Forbidden

router = APIRouter(route_class=DashboardRoute)
CHUNK = 1024 * 1024


def account(session) -> str:
    return f"/object/v1/AUTH_{session.project_id}"


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


@router.get("/objects")
async def containers(request: Request) -> Response:
    session = session_of(request)
    async with api(request, session) as client:
        listing = await client.get(f"{account(session)}?format=json")
    return render(
        request, "containers.html", session, containers=listing or [], projects=await user_projects(request, session)
    )


@router.post("/objects")
async def container_action(request: Request) -> Response:
    session = session_of(request)
    form = await check_csrf(request, session)
    name = form.get("container", "").strip()
    if not name or "/" in name:
        raise BadRequest("A container name is required and cannot contain '/'.")
    async with api(request, session) as client:
        if form.get("action") == "delete":
            await client.delete(f"{account(session)}/{quote(name)}", expect_json=False)
            return back("/objects", message=f"Container {name} deleted.")
        await client.put(f"{account(session)}/{quote(name)}", expect_json=False)
    return back("/objects", message=f"Container {name} created.")


@router.get("/objects/{container}")
async def container_view(request: Request, container: str) -> Response:
    session = session_of(request)
    prefix = request.query_params.get("prefix", "")
    async with api(request, session) as client:
        listing = await client.get(
            f"{account(session)}/{quote(container)}", params={"format": "json", "delimiter": "/", "prefix": prefix}
        )
    return render(
        request,
        "container.html",
        session,
        container=container,
        prefix=prefix,
        entries=listing or [],
        projects=await user_projects(request, session),
    )


@router.post("/objects/{container}/upload")
async def upload(request: Request, container: str) -> Response:
    session = session_of(request)
    form = await request.form()
    if form.get(CSRF_FIELD) != session.csrf:
        raise Forbidden("CSRF check failed; reload the page and try again.")
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        raise BadRequest("Choose a file to upload.")
    prefix = str(form.get("prefix", ""))
    name = prefix + file.filename.rsplit("/", 1)[-1]
    async with api(request, session) as client:
        await client.put(
            f"{account(session)}/{quote(container)}/{quote(name)}",
            content=_chunks(file),
            expect_json=False,
            headers={"Content-Type": file.content_type or "application/octet-stream"},
        )
    return back(f"/objects/{quote(container)}?prefix={quote(prefix)}", message=f"Uploaded {name}.")


@router.get("/objects/{container}/download/{name:path}")
async def download(request: Request, container: str, name: str) -> Response:
    session = session_of(request)
    client = api(request, session)
    response = await client.open_stream("GET", f"{account(session)}/{quote(container)}/{quote(name)}")

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        finally:
            await response.aclose()
            await client.aclose()

    filename = name.rsplit("/", 1)[-1]
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
        "Content-Length": response.headers.get("content-length", ""),
    }
    return StreamingResponse(
        body(),
        media_type=response.headers.get("content-type", "application/octet-stream"),
        headers={k: v for k, v in headers.items() if v},
    )


@router.post("/objects/{container}/delete")
async def delete_object(request: Request, container: str) -> Response:
    session = session_of(request)
    form = await check_csrf(request, session)
    name = form.get("name", "")
    async with api(request, session) as client:
        await client.delete(f"{account(session)}/{quote(container)}/{quote(name)}", expect_json=False)
    prefix = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    return back(f"/objects/{quote(container)}?prefix={quote(prefix)}", message=f"Deleted {name}.")
