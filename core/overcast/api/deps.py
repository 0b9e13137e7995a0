"""FastAPI dependencies shared by every service's router: the runtime, the caller's
context from ``X-Auth-Token``, and :func:`authorize`, the single policy enforcement point.

Every route declares the rule it needs::

    @router.get("/servers")
    def list_servers(ctx: RequestContext = Depends(authorize("compute:servers:list"))): ...

The identity service validates the token and decides each rule (``admin``/``member``/
``reader``, project-scoped); handlers never check roles themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from overcast.context import RequestContext
from overcast.errors import Unauthorized
from overcast.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    """The runtime, for plain (non-dependency) calls."""
    return request.app.state.runtime


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


def context_of(request: Request) -> RequestContext:
    """The validated caller, for plain calls. 401 in the service's format without a valid token."""
    token = request.headers.get("x-auth-token")
    if not token:
        raise Unauthorized("The request you have made requires authentication.")
    return runtime_of(request).identity.context_from_token(token, request_id=request_id(request))


# The dependencies are ``async`` on purpose: FastAPI runs a sync dependency in its thread
# pool, and three thread hops per request cost more than the validation itself (a cache
# hit plus one indexed read). Call ``runtime_of``/``context_of`` when not using Depends.


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def get_context(request: Request) -> RequestContext:
    return context_of(request)


def authorize(rule: str) -> Callable[[Request], Awaitable[RequestContext]]:
    """A dependency that authenticates the caller and enforces ``rule`` (403 if denied)."""

    async def dependency(request: Request) -> RequestContext:
        ctx = context_of(request)
        runtime_of(request).identity.enforce(rule, ctx)
        return ctx

    dependency.__name__ = f"authorize[{rule}]"
    return dependency
