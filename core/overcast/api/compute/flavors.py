"""``/flavors``: list, detail, show, create, delete, extra specs and access lists."""

from __future__ import annotations

from fastapi import Depends, Request

from overcast.api.compute.common import base_url, json_body, query_params, reply, wrapped
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.compute.views import flavor_view
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.errors import BadRequest

router = ResourceRouter(route_class=MicroversionRoute)


def _list(request: Request, ctx: RequestContext, runtime, detail: bool):
    p = query_params(request)
    try:
        min_ram = int(p["minRam"]) if "minRam" in p else None
        min_disk = int(p["minDisk"]) if "minDisk" in p else None
        limit = int(p["limit"]) if "limit" in p else None
    except ValueError:
        raise BadRequest("minRam, minDisk and limit must be integers") from None
    rows = runtime.compute.flavors.list(
        ctx,
        p.get("is_public"),
        min_ram,
        min_disk,
        p.get("marker"),
        limit,
        p.get("sort_key", "flavorid"),
        p.get("sort_dir", "asc"),
    )
    version = version_of(request)
    out: dict = {"flavors": [flavor_view(request, r, version, detail, specs) for r, specs in rows]}
    if limit is not None and rows and len(rows) >= limit:
        path = "flavors/detail" if detail else "flavors"
        out["flavors_links"] = [
            {"rel": "next", "href": f"{base_url(request)}/compute/v2.1/{path}?limit={limit}&marker={rows[-1][0].id}"}
        ]
    return reply(out)


@router.get("/v2.1/flavors")
def list_flavors(
    request: Request, ctx: RequestContext = Depends(authorize("compute:flavors:list")), runtime=Depends(get_runtime)
):
    return _list(request, ctx, runtime, detail=False)


@router.get("/v2.1/flavors/detail")
def list_flavors_detail(
    request: Request, ctx: RequestContext = Depends(authorize("compute:flavors:detail")), runtime=Depends(get_runtime)
):
    return _list(request, ctx, runtime, detail=True)


@router.get("/v2.1/flavors/{flavor_id}")
def show_flavor(
    flavor_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:flavors:show")),
    runtime=Depends(get_runtime),
):
    rec, specs = runtime.compute.flavors.get(ctx, flavor_id)
    return reply({"flavor": flavor_view(request, rec, version_of(request), extra_specs=specs)})


@router.post("/v2.1/flavors")
async def create_flavor(
    request: Request, ctx: RequestContext = Depends(authorize("compute:flavors:create")), runtime=Depends(get_runtime)
):
    body = wrapped(await json_body(request), "flavor")
    version = version_of(request)
    if "description" in body and version < (2, 55):
        raise BadRequest(
            "Invalid input for field/attribute flavor. Additional properties are not allowed ('description' was unexpected)"
        )
    rec = runtime.compute.flavors.create(ctx, body)
    return reply({"flavor": flavor_view(request, rec, version, extra_specs={})})


@router.put("/v2.1/flavors/{flavor_id}")
async def update_flavor(
    flavor_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:flavors:update")),
    runtime=Depends(get_runtime),
):
    """2.55: a flavor's description (the only thing Nova lets change); 404 before, as the
    route does not exist there."""
    version = version_of(request)
    if version < (2, 55):
        from overcast.errors import NotFound

        raise NotFound("The resource could not be found.")
    body = wrapped(await json_body(request), "flavor")
    extra = sorted(set(body) - {"description"})
    if extra or "description" not in body:
        raise BadRequest(
            "Invalid input for field/attribute flavor. 'description' is the only property and it is required"
        )
    rec = runtime.compute.flavors.set_description(ctx, flavor_id, body["description"])
    _, specs = runtime.compute.flavors.get(ctx, flavor_id)
    return reply({"flavor": flavor_view(request, rec, version, extra_specs=specs)})


@router.delete("/v2.1/flavors/{flavor_id}")
def delete_flavor(
    flavor_id: str, ctx: RequestContext = Depends(authorize("compute:flavors:delete")), runtime=Depends(get_runtime)
):
    runtime.compute.flavors.delete(ctx, flavor_id)
    return reply(None, 202)


@router.get("/v2.1/flavors/{flavor_id}/os-extra_specs")
def list_extra_specs(
    flavor_id: str,
    ctx: RequestContext = Depends(authorize("compute:flavor_extra_specs:list")),
    runtime=Depends(get_runtime),
):
    _, specs = runtime.compute.flavors.get(ctx, flavor_id)
    return reply({"extra_specs": specs})


@router.post("/v2.1/flavors/{flavor_id}/os-extra_specs")
async def set_extra_specs(
    flavor_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:flavor_extra_specs:create")),
    runtime=Depends(get_runtime),
):
    body = await json_body(request)
    specs = body.get("extra_specs") if isinstance(body, dict) else None
    return reply({"extra_specs": runtime.compute.flavors.set_extra_specs(ctx, flavor_id, specs)})


@router.get("/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
def show_extra_spec(
    flavor_id: str,
    key: str,
    ctx: RequestContext = Depends(authorize("compute:flavor_extra_specs:show")),
    runtime=Depends(get_runtime),
):
    _, specs = runtime.compute.flavors.get(ctx, flavor_id)
    if key not in specs:
        from overcast.errors import NotFound

        raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
    return reply({key: specs[key]})


@router.put("/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
async def update_extra_spec(
    flavor_id: str,
    key: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:flavor_extra_specs:update")),
    runtime=Depends(get_runtime),
):
    body = await json_body(request)
    if not isinstance(body, dict) or list(body) != [key]:
        raise BadRequest("Request body and URI mismatch")
    specs = runtime.compute.flavors.set_extra_specs(ctx, flavor_id, body)
    return reply({key: specs[key]})


@router.delete("/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
def delete_extra_spec(
    flavor_id: str,
    key: str,
    ctx: RequestContext = Depends(authorize("compute:flavor_extra_specs:delete")),
    runtime=Depends(get_runtime),
):
    runtime.compute.flavors.delete_extra_spec(ctx, flavor_id, key)
    return reply(None, 200)


@router.get("/v2.1/flavors/{flavor_id}/os-flavor-access")
def list_access(
    flavor_id: str, ctx: RequestContext = Depends(authorize("compute:flavor_access:list")), runtime=Depends(get_runtime)
):
    projects = runtime.compute.flavors.access_list(ctx, flavor_id)
    return reply({"flavor_access": [{"flavor_id": flavor_id, "tenant_id": p} for p in projects]})


@router.post("/v2.1/flavors/{flavor_id}/action")
async def flavor_action(
    flavor_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:flavor_access:update")),
    runtime=Depends(get_runtime),
):
    body = await json_body(request)
    flavors = runtime.compute.flavors
    if isinstance(body, dict) and isinstance(body.get("addTenantAccess"), dict):
        projects = flavors.add_access(ctx, flavor_id, body["addTenantAccess"].get("tenant"))
    elif isinstance(body, dict) and isinstance(body.get("removeTenantAccess"), dict):
        projects = flavors.remove_access(ctx, flavor_id, body["removeTenantAccess"].get("tenant"))
    else:
        raise BadRequest("Unknown flavor action: use addTenantAccess or removeTenantAccess")
    return reply({"flavor_access": [{"flavor_id": flavor_id, "tenant_id": p} for p in projects]})
