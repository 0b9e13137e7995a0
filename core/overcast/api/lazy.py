"""A service API imported on its first request, not when the app is built.

:class:`LazyRouter` stands in the app's routes where the service's router goes. The first
request under its path imports the module (in a worker thread, so the event loop keeps
serving), puts the module's router in its place and routes the request again, so it is answered
as if the router had been there from the start. Until then the module and its routes cost
nothing: an idle all-in-one that never serves Heat or Octavia does not carry them in each API
process (``bench/footprint.py``). A cloud that does serve them pays for the import in each
process that serves them, instead of once in the pages ``overcast up`` shares with its workers.

A lazy API can have none of the start-up hooks :func:`overcast.api.app.create_app` reads from
a module (``FAST_PATHS``, ``FAST_ROUTES``, ``body_limits``, ``ASGI_WRAPPER``): they shape the
layers around the app, built once. Loading one that has any fails loudly.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType

import anyio.to_thread
from fastapi import FastAPI
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from overcast.api.routing import ServiceRouter, route_path

#: module attributes that only take effect when the app is built
START_UP_HOOKS = ("FAST_PATHS", "FAST_ROUTES", "body_limits", "ASGI_WRAPPER")


class LazyRouter(BaseRoute):
    """The place of ``module_name``'s router in ``app``'s routes, for every request at or
    below ``served_at`` (the router's own ``served_at``, checked when it loads)."""

    def __init__(self, app: FastAPI, module_name: str, served_at: str) -> None:
        self.app = app
        self.module_name = module_name
        self.served_at = served_at
        self._lock = threading.Lock()

    def serves(self, path: str) -> bool:
        return path == self.served_at or path.startswith(self.served_at + "/")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and self.serves(route_path(scope)):
            return Match.FULL, {}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.to_thread.run_sync(self.load)
        await self.app.router.app(scope, receive, send)  # routed again: to the module's routes now

    def load(self) -> None:
        """Import the module and put its router in this placeholder's place (once; a request
        that finds it done already does nothing)."""
        with self._lock:
            routes = self.app.router.routes
            if not any(r is self for r in routes):
                return
            router = _router_of(importlib.import_module(self.module_name), self.served_at)
            before = len(routes)
            self.app.include_router(router)
            # what include_router appended (the router, or its routes one by one in FastAPI
            # versions that flatten it) is moved to this placeholder's place, in its order
            included = routes[before:]
            del routes[before:]
            place = next(i for i, r in enumerate(routes) if r is self)
            routes[place : place + 1] = included

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.module_name!r}, served_at={self.served_at!r})"


def _router_of(module: ModuleType, served_at: str) -> ServiceRouter:
    hooks = [name for name in START_UP_HOOKS if hasattr(module, name)]
    if hooks:
        raise RuntimeError(f"{module.__name__} has {', '.join(hooks)}: it cannot be loaded on its first request")
    router = module.router
    if not isinstance(router, ServiceRouter) or router.served_at != served_at:
        raise RuntimeError(f"{module.__name__}: its router is not a ServiceRouter served at {served_at}")
    return router
