"""``/v3/auth``: issue, validate, check and revoke tokens; the caller's catalog, projects,
domains and system scopes."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime, runtime_of
from overcast.api.errors import overcast_error_response
from overcast.api.identity import render
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.errors import Forbidden, NotFound, OvercastError
from overcast.runtime import Runtime

router = ResourceRouter()

# GET and HEAD are async: validation is a cache hit plus one indexed read, cheaper than
# a hop to the thread pool. Issuing hashes a password, so it runs in the pool.
# They are also served through FAST_ROUTES (below), ahead of FastAPI's stack.

PATH = "/identity/v3/auth/tokens"
_authorize_validate = authorize("identity:tokens:validate")

SUBJECT = "X-Subject-Token"


def _catalog(request: Request, runtime: Runtime, data: Any) -> str | None:
    """The serialized catalog for a scoped token unless ``?nocatalog``; an unscoped token
    carries none, as in Keystone."""
    if request.scope.get("query_string") and "nocatalog" in request.query_params:
        return None
    if data.payload.project_id is None and not data.payload.system:
        return None
    return runtime.identity.catalog_json(data.payload.project_id)


def _subject(request: Request) -> str:
    token = request.headers.get("x-subject-token")
    if not token:
        raise NotFound("Could not find token: the X-Subject-Token header is missing.", code="TokenNotFound")
    return token


def _subject_data(request: Request, runtime: Runtime, ctx: RequestContext) -> Any:
    """The subject token, if the caller may look at it: its owner or an admin."""
    # The caller's token was validated just before, in this request: the identity state
    # (revocations) it was checked against is the state this request sees.
    data = runtime.identity.validate_subject_token(_subject(request), state_checked=True)
    if not ctx.is_admin and data.payload.user_id != ctx.user_id:
        raise Forbidden("You are not authorized to perform the requested action: identity:tokens:validate.")
    return data


@router.post("/v3/auth/tokens")
def issue_token(request: Request, body: Any = Body(None), runtime: Runtime = Depends(get_runtime)) -> Response:
    data = runtime.identity.issue_token(body, source=request.client.host if request.client else None)
    return render.token_response(data, _catalog(request, runtime, data), 201)


@router.get("/v3/auth/tokens")
async def validate_token(request: Request, ctx: RequestContext = Depends(_authorize_validate)) -> Response:
    runtime = runtime_of(request)
    data = _subject_data(request, runtime, ctx)
    return render.token_response(data, _catalog(request, runtime, data), 200)


@router.head("/v3/auth/tokens")
async def check_token(request: Request, ctx: RequestContext = Depends(_authorize_validate)) -> Response:
    data = _subject_data(request, runtime_of(request), ctx)
    return render.empty_response(200, {SUBJECT: data.token})


async def fast_validation(scope: dict, receive: Any, send: Any) -> None:
    """``GET``/``HEAD`` of :data:`PATH` as a plain ASGI app: the same dependency (policy)
    and handlers as the routes above, without FastAPI's routing, dependency solving and
    exception layers, which cost more than the validation itself (bench/identity_tokens.py)."""
    request = Request(scope, receive)
    try:
        ctx = await _authorize_validate(request)
        handler = check_token if scope["method"] == "HEAD" else validate_token
        response = await handler(request, ctx)
    except OvercastError as exc:
        response = overcast_error_response(PATH, exc, runtime_of(request).config.api.base_url())
    await response(scope, receive, send)


#: Served by :class:`~overcast.api.middleware.FastPathMiddleware` (see ``create_app``).
FAST_ROUTES = {("GET", PATH): fast_validation, ("HEAD", PATH): fast_validation}


@router.delete("/v3/auth/tokens")
def revoke_token(
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:tokens:revoke")),
) -> Response:
    data = _subject_data(request, runtime, ctx)
    runtime.identity.revoke_token(data.token)
    return render.empty_response(204)


@router.get("/v3/auth/catalog")
def auth_catalog(
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:auth:catalog")),
) -> Response:
    if ctx.project_id is None:
        raise Forbidden("The service catalog needs a project-scoped token.")
    return render.json_response(
        {"catalog": runtime.identity.catalog(ctx.project_id), "links": {"self": str(request.url)}}
    )


@router.get("/v3/auth/projects")
def auth_projects(
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:auth:projects")),
) -> Response:
    projects = [p for p in runtime.identity.assignments.projects_of_user(ctx.user_id) if p.enabled]
    return render.collection(request, "projects", [render.project(request, p) for p in projects])


@router.get("/v3/auth/domains")
def auth_domains(
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:auth:projects")),
) -> Response:
    """The enabled domains the caller holds a role on (directly or through a group)."""
    domains = [d for d in runtime.identity.assignments.domains_of_user(ctx.user_id) if d.enabled]
    return render.collection(request, "domains", [render.domain(request, d) for d in domains])


@router.get("/v3/auth/system")
def auth_system(
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:auth:projects")),
) -> Response:
    """``[{"all": true}]`` when the caller has a role on the system (a system scope it may ask for)."""
    has_roles = bool(runtime.identity.resolver.system_roles(ctx.user_id))
    return render.collection(request, "system", [{"all": True}] if has_roles else [])
