"""FastAPI dependencies shared by every service's router: the runtime, the caller's
context from ``X-Auth-Token``, and :func:`authorize`, the single policy enforcement point.

Every route declares the rule it needs::

    @router.get("/servers")
    def list_servers(ctx: RequestContext = Depends(authorize("compute:servers:list"))): ...

The identity service validates the token and decides each rule (``admin``/``member``/
``reader``, project-scoped); handlers never check roles themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from overcast.context import RequestContext
from overcast.errors import Unauthorized
from overcast.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


def get_context(request: Request) -> RequestContext:
    """The validated caller. 401 in the service's format without a valid token."""
    token = request.headers.get("x-auth-token")
    if not token:
        raise Unauthorized("The request you have made requires authentication.")
    runtime = get_runtime(request)
    return runtime.identity.context_from_token(token, request_id=request_id(request))


def authorize(rule: str) -> Callable[[Request], RequestContext]:
    """A dependency that authenticates the caller and enforces ``rule`` (403 if denied)."""

    def dependency(request: Request) -> RequestContext:
        ctx = get_context(request)
        get_runtime(request).identity.enforce(rule, ctx)
        return ctx

    dependency.__name__ = f"authorize[{rule}]"
    return dependency
