"""A service's router that is skipped, not scanned, for requests under another service's path.

FastAPI matches a request against the app's routes in order, and an included router against
each of its own routes (a regular expression each) before the next router is tried: a
compute request was matched against all of identity's routes first, and a volume request
against identity's, compute's and image's, twice (once to find the route, once to run it).
Every route of a :class:`ServiceRouter` sits under its ``served_at`` path, so a request
elsewhere cannot match any of them and the router answers "no match" at once
(``tests/api/test_service_routers.py`` checks that every route is under it).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import Match, Route, WebSocketRoute
from starlette.types import Scope


def route_path(scope: Scope) -> str:
    """The request's path as the routes see it (without the app's ``root_path``), as Starlette
    computes it for matching."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class ServiceRouter(APIRouter):
    """An :class:`APIRouter` every route of which is at ``served_at`` or below it
    (default: its ``prefix``)."""

    def __init__(self, *args: Any, served_at: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.served_at = served_at if served_at is not None else self.prefix
        if not self.served_at.startswith("/") or self.served_at.endswith("/"):
            raise ValueError(f"served_at must be a path without a trailing slash: {self.served_at!r}")

    def serves(self, path: str) -> bool:
        """Whether ``path`` is at or below ``served_at``."""
        return path == self.served_at or path.startswith(self.served_at + "/")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if "path" in scope and not self.serves(route_path(scope)):
            return Match.NONE, {}
        return super().matches(scope)

    def include_router(self, router: APIRouter, *args: Any, prefix: str = "", **kwargs: Any) -> None:
        if isinstance(router, ResourceRouter):
            router.mounted_at(self.prefix + prefix)
        super().include_router(router, *args, prefix=prefix, **kwargs)


class ResourceRouter(APIRouter):
    """An :class:`APIRouter` (one module's routes) that a request for another resource skips.

    Within a service, FastAPI tries a request against each included router's routes in turn:
    ``GET /compute/v2.1/os-hypervisors/detail`` went through some 70 of compute's routes
    (servers, actions, attachments, tags...) first, twice, about 0.2 ms. Once a
    :class:`ServiceRouter` includes this router it knows where its routes sit, and a request
    whose path none of them can match is answered "no match" with one regular expression.

    That expression is only a necessary condition: one alternative per route, its whole path
    (the service's prefix, the include's prefix and the route's own) with each ``{parameter}``
    segment as "any segment", open-ended after its last segment or a ``{name:path}``
    parameter. The routes themselves still decide. A router included anywhere else, or
    holding anything but plain routes (a mount, an included router), filters nothing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mounts: list[str] = []
        self._filter: tuple[int, re.Pattern[str] | None] | None = None

    @property
    def mounts(self) -> tuple[str, ...]:
        """The paths its routes sit under, one per :class:`ServiceRouter` that included it."""
        return tuple(self._mounts)

    def mounted_at(self, path: str) -> None:
        """Called by the including :class:`ServiceRouter`: this router's routes sit under ``path``."""
        self._mounts.append(path)
        self._filter = None

    def may_match(self, path: str) -> bool:
        """False only when no route of this router can match ``path``."""
        pattern = self._pattern()
        return pattern is None or pattern.match(path) is not None

    def _pattern(self) -> re.Pattern[str] | None:
        if self._filter is None or self._filter[0] != len(self.routes):
            self._filter = (len(self.routes), _prefix_pattern(self._mounts, self.routes))
        return self._filter[1]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if "path" in scope and not self.may_match(route_path(scope)):
            return Match.NONE, {}
        return super().matches(scope)


def _prefix_pattern(mounts: list[str], routes: list[Any]) -> re.Pattern[str] | None:
    """One expression every path one of ``routes`` matches under one of ``mounts`` matches
    (None: no filter can be built)."""
    if not mounts or not routes:
        return None
    alternatives: set[str] = set()
    for route in routes:
        path = getattr(route, "path", None)
        if not isinstance(route, (APIRoute, Route, WebSocketRoute)) or not isinstance(path, str):
            return None
        for mount in mounts:
            alternatives.add(_route_prefix(mount, path))
    return re.compile("|".join(f"(?:{a})" for a in sorted(alternatives)))


def _route_prefix(mount: str, path: str) -> str:
    """The expression of ``mount + path``'s segments before any ``{name:path}`` parameter,
    each ``{parameter}`` segment matching any one segment."""
    parts: list[str] = []
    for segment in (mount + path).split("/"):
        if "{" in segment:
            if ":path}" in segment:
                break  # spans segments: anything from here on
            parts.append("[^/]*")
        else:
            parts.append(re.escape(segment))
    return "/".join(parts)
