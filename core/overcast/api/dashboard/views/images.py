"""Images: list, upload with progress (streamed through to the image API), properties, delete."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from overcast.api.dashboard.pages import api, back, check_csrf, render, session_of
from overcast.api.dashboard.routing import DashboardRoute
from overcast.api.dashboard.session import CSRF_HEADER
from overcast.api.dashboard.views.auth import user_projects
from overcast.errors import BadRequest, Forbidden
from overcast.image.constants import VIEW_FIELDS

router = APIRouter(route_class=DashboardRoute)
GLANCE = "/image/v2/images"
PATCH_TYPE = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
DISK_FORMATS = ["qcow2", "raw", "vmdk", "vhd", "vhdx", "iso", "ami", "ari", "aki", "vdi"]


@router.get("/images")
async def images(request: Request) -> Response:
    session = session_of(request)
    async with api(request, session) as client:
        listing = (await client.get(GLANCE))["images"]
    return render(
        request,
        "images.html",
        session,
        images=listing,
        disk_formats=DISK_FORMATS,
        projects=await user_projects(request, session),
    )


@router.post("/images/new")
async def create_image(request: Request) -> Response:
    """Step 1 of an upload: create the (queued) image; the browser then PUTs the data."""
    session = session_of(request)
    form = await check_csrf(request, session)
    name = form.get("name", "").strip()
    if not name:
        raise BadRequest("An image needs a name.")
    body = {
        "name": name,
        "disk_format": form.get("disk_format", "qcow2"),
        "container_format": form.get("container_format", "bare"),
        "visibility": form.get("visibility", "private"),
    }
    async with api(request, session) as client:
        image = await client.post(GLANCE, json=body)
    return JSONResponse({"id": image["id"]}, status_code=201)


@router.put("/images/{image_id}/data")
async def upload_data(request: Request, image_id: str) -> Response:
    """Step 2: stream the browser's body straight to the image API, never whole in memory."""
    session = session_of(request)
    if request.headers.get(CSRF_HEADER) != session.csrf:
        raise Forbidden("CSRF check failed; reload the page and try again.")
    async with api(request, session) as client:
        await client.put(
            f"{GLANCE}/{image_id}/file",
            content=request.stream(),
            expect_json=False,
            headers={"Content-Type": "application/octet-stream"},
        )
    return JSONResponse({"id": image_id, "status": "uploaded"})


@router.get("/images/{image_id}")
async def image_detail(request: Request, image_id: str) -> Response:
    session = session_of(request)
    async with api(request, session) as client:
        image = await client.get(f"{GLANCE}/{image_id}")
    properties = {k: v for k, v in image.items() if k not in VIEW_FIELDS}
    return render(
        request,
        "image.html",
        session,
        image=image,
        properties=properties,
        projects=await user_projects(request, session),
    )


@router.post("/images/{image_id}")
async def edit_image(request: Request, image_id: str) -> Response:
    session = session_of(request)
    form = await check_csrf(request, session)
    async with api(request, session) as client:
        if form.get("action") == "delete":
            await client.delete(f"{GLANCE}/{image_id}", expect_json=False)
            return back("/images", message="Image deleted.")
        if form.get("remove"):
            patch = [{"op": "remove", "path": "/" + form["remove"]}]
        else:
            key = form.get("key", "").strip()
            if not key:
                raise BadRequest("A property needs a name.")
            patch = [{"op": "add", "path": "/" + key, "value": form.get("value", "")}]
        await client.patch(f"{GLANCE}/{image_id}", json=patch, headers=PATCH_TYPE)
    return back(f"/images/{image_id}", message="Image updated.")
