"""``/os-keypairs`` and ``/os-server-groups``."""

from __future__ import annotations

from fastapi import Depends, Request

from overcast.api.compute.common import json_body, reply, wrapped
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.compute.views import keypair_view, server_group_view
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext

router = ResourceRouter(route_class=MicroversionRoute)


@router.get("/v2.1/os-keypairs")
def list_keypairs(
    request: Request, ctx: RequestContext = Depends(authorize("compute:keypairs:list")), runtime=Depends(get_runtime)
):
    from overcast.errors import BadRequest

    version = version_of(request)
    recs = runtime.compute.keypairs.list(ctx, request.query_params.get("user_id"))
    params = request.query_params
    out: dict = {}
    if version >= (2, 35) and ("limit" in params or "marker" in params):  # paging by name
        if "marker" in params:
            names = [r.name for r in recs]
            if params["marker"] not in names:
                raise BadRequest(f"marker [{params['marker']}] not found")
            recs = recs[names.index(params["marker"]) + 1 :]
        if "limit" in params:
            try:
                limit = int(params["limit"])
            except ValueError:
                raise BadRequest("limit must be an integer") from None
            more = len(recs) > limit
            recs = recs[: max(limit, 0)]
            if more and recs:
                out["keypairs_links"] = [
                    {
                        "rel": "next",
                        "href": f"{str(request.base_url).rstrip('/')}/compute/v2.1/"
                        f"os-keypairs?limit={limit}&marker={recs[-1].name}",
                    }
                ]
    return reply({"keypairs": [{"keypair": keypair_view(r, version)} for r in recs], **out})


@router.post("/v2.1/os-keypairs")
async def create_keypair(
    request: Request, ctx: RequestContext = Depends(authorize("compute:keypairs:create")), runtime=Depends(get_runtime)
):
    body = wrapped(await json_body(request), "keypair")
    version = version_of(request)
    rec, private = runtime.compute.keypairs.create(ctx, body)
    out = keypair_view(rec, version)
    out["user_id"] = rec.user_id
    if private is not None:
        out["private_key"] = private
    return reply({"keypair": out}, 201 if version >= (2, 2) else 200)


@router.get("/v2.1/os-keypairs/{name}")
def show_keypair(
    name: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:keypairs:show")),
    runtime=Depends(get_runtime),
):
    rec = runtime.compute.keypairs.get(ctx, name, request.query_params.get("user_id"))
    return reply({"keypair": keypair_view(rec, version_of(request), detail=True)})


@router.delete("/v2.1/os-keypairs/{name}")
def delete_keypair(
    name: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:keypairs:delete")),
    runtime=Depends(get_runtime),
):
    runtime.compute.keypairs.delete(ctx, name, request.query_params.get("user_id"))
    return reply(None, 204 if version_of(request) >= (2, 2) else 202)


@router.get("/v2.1/os-server-groups")
def list_groups(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_groups:list")),
    runtime=Depends(get_runtime),
):
    all_projects = request.query_params.get("all_projects", "").lower() in ("1", "true", "yes")
    version = version_of(request)
    rows = runtime.compute.server_groups.list(ctx, all_projects)
    return reply({"server_groups": [server_group_view(r, m, version) for r, m in rows]})


@router.post("/v2.1/os-server-groups")
async def create_group(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_groups:create")),
    runtime=Depends(get_runtime),
):
    body = wrapped(await json_body(request), "server_group")
    version = version_of(request)
    _check_group(body, version)
    rec = runtime.compute.server_groups.create(ctx, body)
    return reply({"server_group": server_group_view(rec, [], version)})


def _check_group(body: dict, version: tuple[int, int]) -> None:
    """Nova's create schema: ``name`` and ``policies`` (a list of one policy) before 2.64;
    ``name``, ``policy`` and optional ``rules`` from 2.64. ``rules``
    (``max_server_per_host`` for anti-affinity) are refused: the scheduler here places at
    most one member of an anti-affinity group per host."""
    from overcast.api.compute.server_requests import unexpected
    from overcast.errors import BadRequest

    keys = {"name", "policy", "rules"} if version >= (2, 64) else {"name", "policies"}
    extra = sorted(set(body) - keys)
    if extra:
        raise unexpected(extra, "server_group")
    required = "policy" if version >= (2, 64) else "policies"
    if required not in body:
        raise BadRequest(f"Invalid input for field/attribute server_group. '{required}' is a required property")
    if version < (2, 64):
        policies = body["policies"]
        if not isinstance(policies, list) or len(policies) != 1:
            raise BadRequest(f"Invalid input for field/attribute policies. Value: {policies}.")
        return
    rules = body.get("rules", {})
    if not isinstance(rules, dict):
        raise BadRequest(f"Invalid input for field/attribute rules. Value: {rules}.")
    if rules and body["policy"] != "anti-affinity":
        raise BadRequest("Only anti-affinity policy supports rules.")
    if set(rules) - {"max_server_per_host"}:
        raise unexpected(sorted(set(rules) - {"max_server_per_host"}), "rules")
    if rules:
        raise BadRequest(
            "Server group rules are not supported by this cloud: an anti-affinity group has at most one "
            "member per host."
        )


@router.get("/v2.1/os-server-groups/{group_id}")
def show_group(
    group_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_groups:show")),
    runtime=Depends(get_runtime),
):
    rec, members = runtime.compute.server_groups.get(ctx, group_id)
    return reply({"server_group": server_group_view(rec, members, version_of(request))})


@router.delete("/v2.1/os-server-groups/{group_id}")
def delete_group(
    group_id: str,
    ctx: RequestContext = Depends(authorize("compute:server_groups:delete")),
    runtime=Depends(get_runtime),
):
    runtime.compute.server_groups.delete(ctx, group_id)
    return reply(None, 204)
