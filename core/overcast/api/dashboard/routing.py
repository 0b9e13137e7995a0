"""A route class for dashboard views: turns a missing session into a redirect to /login and
an API or validation error into a page showing the service's own error text."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from overcast.api.dashboard.client import ApiError
from overcast.api.dashboard.pages import LoginRequired, back, render
from overcast.errors import OvercastError


class DashboardRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return RedirectResponse(
                    "/login?" + ("next=" + request.url.path if request.method == "GET" else ""), status_code=303
                )
            except (ApiError, OvercastError) as exc:
                status = getattr(exc, "status", 400)
                text = exc.message
                if request.method == "POST":
                    referer = request.headers.get("referer", "/overview")
                    path = (
                        "/" + referer.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
                        if "://" in referer
                        else "/overview"
                    )
                    return back(path, error=text)
                return render(request, "error.html", status=status if status >= 400 else 400, error_text=text)

        return guarded
