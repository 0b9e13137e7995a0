"""The one ASGI app: every service's router on one port, one path prefix each.

``/identity`` (Keystone v3), ``/compute`` (Nova v2.1), ``/image`` (Glance v2), ``/volume``
(Cinder v3), ``/networking`` (Neutron v2.0), ``/object`` (Swift v1); the dashboard at ``/``.
Each service module exposes ``router`` (a FastAPI ``APIRouter`` carrying its own prefix and
version-discovery routes).
"""

from __future__ import annotations

import importlib
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from overcast import __version__
from overcast.api.errors import error_body, overcast_error_body
from overcast.api.middleware import JsonBodyLimitMiddleware, RequestIdAndLogMiddleware
from overcast.errors import OvercastError
from overcast.runtime import Runtime

log = logging.getLogger(__name__)

#: The API modules mounted, in order. Each has a module-level ``router``. FastAPI matches a
#: request against the routes one by one (a regex each; ~300 routes before the object store
#: cost more than the rest of a 4 KiB GET), so the object data path comes first; the
#: prefixes do not overlap, so the order changes nothing else (the dashboard's ``/`` last).
SERVICE_APIS = (
    "overcast.api.objectstore",
    "overcast.api.identity",
    "overcast.api.compute",
    "overcast.api.image",
    "overcast.api.volume",
    "overcast.api.network",
    "overcast.api.dashboard",
)


def _response(path: str, status: int, title: str, message: str, code: str | None = None) -> Response:
    media, body = error_body(path, status, title, message, code)
    return Response(content=body, status_code=status, media_type=media)


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="Overcast", version=__version__, docs_url=None, redoc_url=None)
    app.state.runtime = runtime

    @app.exception_handler(OvercastError)
    async def overcast_error(request: Request, exc: OvercastError) -> Response:
        media, body = overcast_error_body(request.url.path, exc)
        headers = {"WWW-Authenticate": 'Keystone uri="%s/identity"' % runtime.config.api.base_url()} if exc.status == 401 else None
        return Response(content=body, status_code=exc.status, media_type=media, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if err.get("type") == "json_invalid":
            return _response(request.url.path, 400, "Bad Request", "The request body is not valid JSON.")
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        message = f"Invalid input for field/attribute {where}: {err.get('msg')}" if where else str(err.get("msg"))
        return _response(request.url.path, 400, "Bad Request", message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "Error")
        message = "The resource could not be found." if exc.status_code == 404 else str(exc.detail)
        return _response(request.url.path, exc.status_code, title, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _response(request.url.path, 500, "Internal Server Error", "An unexpected error prevented the server from fulfilling your request.")

    for module_name in SERVICE_APIS:
        app.include_router(importlib.import_module(module_name).router)

    app.add_middleware(JsonBodyLimitMiddleware, limit=runtime.config.api.max_request_body)
    app.add_middleware(RequestIdAndLogMiddleware)
    return app
