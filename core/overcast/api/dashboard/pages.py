"""Rendering and request plumbing shared by the dashboard's views.

* Templates are Jinja2 with autoescaping on: nothing a user typed is rendered unescaped.
* :func:`session_of` reads the session cookie; views that need one raise :class:`LoginRequired`.
* :func:`check_csrf` guards every POST (form field or ``X-CSRF-Token`` header for htmx).
* Views end a POST with :func:`back`, a redirect carrying a message or the API's error text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from overcast.api.dashboard.client import ApiClient
from overcast.api.dashboard.session import COOKIE, CSRF_FIELD, CSRF_HEADER, Session, SessionCodec
from overcast.errors import Forbidden

HERE = Path(__file__).parent
templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html", "svg"]))


class LoginRequired(Exception):
    """Raised by views without a valid session; answered with a redirect to /login."""


def codec(request: Request) -> SessionCodec:
    state = request.app.state
    if not hasattr(state, "dashboard_codec"):
        config = state.runtime.config
        state.dashboard_codec = SessionCodec(config.data_dir / "dashboard-session.key")
    return state.dashboard_codec


def session_of(request: Request) -> Session:
    session = codec(request).load(request.cookies.get(COOKIE))
    if session is None:
        raise LoginRequired()
    return session


def api(request: Request, session: Session | None = None) -> ApiClient:
    client = (request.client.host, request.client.port) if request.client else None
    return ApiClient(request.app, session.token if session else None, client)


async def check_csrf(request: Request, session: Session) -> dict[str, Any]:
    """The POSTed form, after checking its CSRF token. Raises ``Forbidden`` on a mismatch."""
    form = dict(await request.form())
    sent = form.pop(CSRF_FIELD, None) or request.headers.get(CSRF_HEADER)
    if not sent or sent != session.csrf:
        raise Forbidden(
            "The form has expired or did not come from this dashboard (CSRF check failed). Reload the page and try again."
        )
    return form


def render(
    request: Request, template: str, session: Session | None = None, status: int = 200, **context: Any
) -> HTMLResponse:
    values: dict[str, Any] = {
        "request": request,
        "session": session,
        "csrf_field": CSRF_FIELD,
        "message": request.query_params.get("msg"),
        "error": request.query_params.get("error"),
    }
    values.update(context)
    page = templates.get_template(template).render(**values)
    return HTMLResponse(page, status_code=status)


def back(path: str, message: str | None = None, error: str | None = None) -> RedirectResponse:
    query = {k: v for k, v in (("msg", message), ("error", error)) if v}
    separator = "&" if "?" in path else "?"
    return RedirectResponse(path + (separator + urlencode(query) if query else ""), status_code=303)


def set_session(response: RedirectResponse, request: Request, session: Session | None) -> RedirectResponse:
    if session is None:
        response.delete_cookie(COOKIE, path="/")
    else:
        response.set_cookie(
            COOKIE,
            codec(request).dump(session),
            httponly=True,
            samesite="lax",
            path="/",
            secure=request.url.scheme == "https",
        )
    return response
