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

from typing import Any

from fastapi import APIRouter
from starlette.routing import Match
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
