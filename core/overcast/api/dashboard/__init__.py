"""The dashboard: a server-rendered web UI at ``/`` over every service's REST API.

It is a thin client: every page calls the cloud's own APIs in-process with the user's token
(``client.ApiClient``), so authentication, policy, validation and error texts are the
services' own. Jinja2 templates (autoescaped) and a little htmx, vendored from its npm package.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.responses import Response

from overcast.api.dashboard.headers import SecurityHeaders
from overcast.api.dashboard.pages import HERE
from overcast.api.dashboard.views import admin, auth, identity, images, instances, networks, objects, overview, volumes
from overcast.api.dashboard.views import stacks  # orchestration
from overcast.api.dashboard.views import loadbalancers
from overcast.api.middleware import RouteLimit
from overcast.config import Config

router = APIRouter(include_in_schema=False)
for view in (auth, overview, instances, images, volumes, networks, objects, identity, admin):
    router.include_router(view.router)
# --- orchestration ---
router.include_router(stacks.router)
router.include_router(loadbalancers.router)

#: ``create_app`` wraps the app in this: security headers on every dashboard response
ASGI_WRAPPER = SecurityHeaders


def body_limits(config: Config) -> list[RouteLimit]:
    """The browser's uploads, passed on to the image and object APIs as they arrive."""
    return [
        RouteLimit("PUT", re.compile(r"^/images/[^/]+/data$"), config.image.max_image_size),
        RouteLimit("POST", re.compile(r"^/objects/[^/]+/upload$"), config.objectstore.max_file_size),
    ]


STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = (HERE / "static" / name).resolve()
    if path.parent != (HERE / "static").resolve() or path.suffix not in STATIC_TYPES or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(path.read_bytes(), media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "max-age=3600"})
