"""The one ASGI app: every service's router on one port, one path prefix each.

``/identity`` (Keystone v3), ``/compute`` (Nova v2.1), ``/image`` (Glance v2), ``/volume``
(Cinder v3), ``/networking`` (Neutron v2.0), ``/object`` (Swift v1); the dashboard at ``/``;
Prometheus metrics at ``/metrics`` (:mod:`overcast.metrics`).
Each service module exposes ``router`` (a FastAPI ``APIRouter`` carrying its own prefix and
version-discovery routes), and optionally ``FAST_PATHS`` / ``FAST_ROUTES``: lean ASGI apps for
its hot paths.

Each may also expose ``body_limits(config)``: the routes whose bodies stream to disk, with
their own size limits (every other body is held to ``[api] max_request_body``), and an
``ASGI_WRAPPER`` around FastAPI (the dashboard's security headers).

The request-id/access-log, body-limit and fast-path layers are plain ASGI and sit *outside*
FastAPI's own stack (its error, telemetry and exception middlewares, routing and dependency
resolution), so a hot request pays for none of that: see :class:`OvercastAPI`.
"""

from __future__ import annotations

import importlib
import logging

from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from overcast import __version__
from overcast.api.admission import Admission
from overcast.api.errors import error_response, overcast_error_response
from overcast.api.lazy import LazyRouter
from overcast.api.middleware import BodyLimitMiddleware, FastPathMiddleware, RequestIdAndLogMiddleware, RouteLimit
from overcast.errors import OvercastError
from overcast.foreground import Foreground
from overcast.runtime import Runtime

log = logging.getLogger(__name__)

#: The API modules mounted, in order. Each has a module-level ``router``.
SERVICE_APIS: tuple[str, ...] = (
    "overcast.api.identity",
    "overcast.api.compute",
    "overcast.api.image",
    "overcast.api.volume",
    "overcast.api.network",
    "overcast.api.objectstore",
    "overcast.api.orchestration",
    "overcast.api.loadbalancer",
    "overcast.api.dashboard",  # serves "/": after every service's own prefix
    "overcast.api.metrics",
)

#: APIs imported on their first request (:mod:`overcast.api.lazy`), by the path they serve:
#: an idle cloud that is never asked for stacks or load balancers does not import them (in
#: ``overcast up`` before it forks its workers, nor when each API process builds its app)
LAZY_APIS: dict[str, str] = {
    "overcast.api.orchestration": "/orchestration",
    "overcast.api.loadbalancer": "/load-balancer",
}


class OvercastAPI(FastAPI):
    """FastAPI with Overcast's plain ASGI layers outermost:
    request id and access log -> admission (:mod:`overcast.api.admission`) -> body limit
    -> fast paths -> FastAPI.

    (``add_middleware`` would put them inside FastAPI's error, telemetry and body-limit
    middlewares, which every request, hot or not, would then cross first.)"""

    _outer: Any = None

    def wrap(
        self,
        fast_paths: dict[str, Any],
        fast_routes: dict[tuple[str, str], Any],
        body_limit: int,
        route_limits: list[RouteLimit] | None = None,
        wrappers: list[Any] | None = None,
        request_slots: int = 0,
        foreground: Foreground | None = None,
    ) -> None:
        inner: Any = super().__call__
        for wrapper in wrappers or ():  # a module's own ASGI layer (the dashboard's headers)
            inner = wrapper(inner)
        if fast_paths or fast_routes:
            inner = FastPathMiddleware(inner, routes=fast_paths, exact=fast_routes)
        inner = BodyLimitMiddleware(inner, limit=body_limit, routes=route_limits or ())
        inner = Admission(inner, slots=request_slots or None, foreground=foreground)
        self._outer = RequestIdAndLogMiddleware(inner)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        scope["app"] = self  # the fast paths read ``app.state`` as routes do
        if self._outer is None:
            await super().__call__(scope, receive, send)
        else:
            await self._outer(scope, receive, send)


#: the methods a 405's ``Allow`` may name
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: FastAPI, scope: MutableMapping[str, Any]) -> list[str]:
    """The methods some route takes at the request's path (Starlette's own 405 names only
    the first partly matching route's, and FastAPI's included routers none)."""
    return [
        method
        for method in HTTP_METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in app.router.routes)
    ]


def create_app(runtime: Runtime, apis: tuple[str, ...] = SERVICE_APIS) -> FastAPI:
    """The API app; ``apis`` narrows it (the object-API workers serve only ``/object``)."""
    app = OvercastAPI(title="Overcast", version=__version__, docs_url=None, redoc_url=None)
    app.state.runtime = runtime

    @app.exception_handler(OvercastError)
    async def overcast_error(request: Request, exc: OvercastError) -> Response:
        return overcast_error_response(
            request.url.path, exc, runtime.config.api.base_url(), request.headers.get("accept")
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if err.get("type") == "json_invalid":
            return error_response(
                request.url.path,
                400,
                "Bad Request",
                "The request body is not valid JSON.",
                accept=request.headers.get("accept"),
            )
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        message = f"Invalid input for field/attribute {where}: {err.get('msg')}" if where else str(err.get("msg"))
        return error_response(request.url.path, 400, "Bad Request", message, accept=request.headers.get("accept"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "Error")
        message = "The resource could not be found." if exc.status_code == 404 else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # RFC 9110: a 405 names every method the resource takes
            headers["Allow"] = ", ".join(allowed_methods(app, request.scope))
        return error_response(
            request.url.path, exc.status_code, title, message, accept=request.headers.get("accept"), headers=headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            request.url.path,
            500,
            "Internal Server Error",
            "An unexpected error prevented the server from fulfilling your request.",
            accept=request.headers.get("accept"),
        )

    fast_paths: dict[str, Any] = {}
    fast_routes: dict[tuple[str, str], Any] = {}
    route_limits: list[RouteLimit] = []
    wrappers: list[Any] = []
    for module_name in apis:
        if module_name in LAZY_APIS:
            app.router.routes.append(LazyRouter(app, module_name, LAZY_APIS[module_name]))
            continue
        module = importlib.import_module(module_name)
        app.include_router(module.router)
        fast_paths.update(getattr(module, "FAST_PATHS", {}))  # prefix -> lean ASGI app
        fast_routes.update(getattr(module, "FAST_ROUTES", {}))  # (method, path) -> lean ASGI app
        if hasattr(module, "body_limits"):  # routes whose bodies stream to disk
            route_limits.extend(module.body_limits(runtime.config))
        if hasattr(module, "ASGI_WRAPPER"):
            wrappers.append(module.ASGI_WRAPPER)

    app.wrap(
        fast_paths,
        fast_routes,
        runtime.config.api.max_request_body,
        route_limits,
        wrappers,
        request_slots=runtime.config.api.request_slots,
        foreground=runtime.foreground,
    )
    return app
