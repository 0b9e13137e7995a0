"""Version discovery, the extensions list, router interface actions and quotas."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request, Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.errors import BadRequest, Forbidden, NotFound

router = ResourceRouter()

EXTENSIONS = {
    "router": "Neutron L3 Router",
    "external-net": "Neutron external network",
    "ext-gw-mode": "Neutron L3 Configurable external gateway mode",
    "extraroute": "Neutron Extra Route",
    "security-group": "security-group",
    "quotas": "Quota management support",
    "quota_details": "Quota details management support",
    "provider": "Provider Network",
    "binding": "Port Binding",
    "port-security": "Port Security",
    "allowed-address-pairs": "Allowed Address Pairs",
    "net-mtu": "Network MTU",
    "standard-attr-description": "standard-attr-description",
    "standard-attr-timestamp": "Resource timestamps",
    "standard-attr-revisions": "Resource revision numbers",
    "project-id": "project_id field enabled",
    "pagination": "Pagination support",
    "sorting": "Sorting support",
    "fip-port-details": "Floating IP Port Details Extension",
    "subnet_allocation": "Subnet Allocation",
    "default-subnetpools": "Default Subnetpools",
}
UPDATED = "2026-01-01T00:00:00-00:00"


def _extension(alias: str) -> dict[str, Any]:
    return {
        "alias": alias,
        "name": EXTENSIONS[alias],
        "description": EXTENSIONS[alias],
        "updated": UPDATED,
        "links": [],
    }


def _version(request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": f"{base}/networking/v2.0/"}]}


def versions(request: Request) -> dict[str, Any]:
    """``GET /networking`` and ``/networking/`` (registered on the prefixed router)."""
    return {"versions": [_version(request)]}


@router.get("/v2.0")
@router.get("/v2.0/")
def resources(request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/") + "/networking/v2.0"
    names = [
        ("network", "networks"),
        ("subnet", "subnets"),
        ("port", "ports"),
        ("router", "routers"),
        ("floatingip", "floatingips"),
        ("security_group", "security-groups"),
        ("security_group_rule", "security-group-rules"),
        ("quota", "quotas"),
    ]
    return {
        "resources": [{"name": n, "collection": c, "links": [{"rel": "self", "href": f"{base}/{c}"}]} for n, c in names]
    }


@router.get("/v2.0/extensions")
def list_extensions(ctx: RequestContext = Depends(authorize("network:extensions:list"))) -> dict[str, Any]:
    return {"extensions": [_extension(a) for a in sorted(EXTENSIONS)]}


@router.get("/v2.0/extensions/{alias}")
def show_extension(alias: str, ctx: RequestContext = Depends(authorize("network:extensions:show"))) -> dict[str, Any]:
    if alias not in EXTENSIONS:
        raise NotFound(f"Extension with alias {alias} does not exist", code="NotFound")
    return {"extension": _extension(alias)}


@router.put("/v2.0/routers/{router_id}/add_router_interface")
def add_router_interface(
    router_id: str,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authorize("network:routers:add_interface")),
    runtime: Any = Depends(get_runtime),
) -> dict[str, Any]:
    return runtime.network.routers.add_interface(ctx, router_id, body)


@router.put("/v2.0/routers/{router_id}/remove_router_interface")
def remove_router_interface(
    router_id: str,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authorize("network:routers:remove_interface")),
    runtime: Any = Depends(get_runtime),
) -> dict[str, Any]:
    return runtime.network.routers.remove_interface(ctx, router_id, body)


# --- quotas ----------------------------------------------------------------------------------


def _own_or_admin(ctx: RequestContext, project_id: str) -> None:
    if not ctx.is_admin and project_id != ctx.project_id:
        raise Forbidden("Non-admin is not authorized to access quotas for another project", code="AdminRequired")


@router.get("/v2.0/quotas")
def list_quotas(
    ctx: RequestContext = Depends(authorize("network:quotas:list")), runtime: Any = Depends(get_runtime)
) -> dict[str, Any]:
    quotas = runtime.network.quotas
    return {"quotas": [quotas.show(p) | {"project_id": p, "tenant_id": p} for p in quotas.projects_with_quotas()]}


@router.get("/v2.0/quotas/{project_id}/default")
@router.get("/v2.0/quotas/{project_id}/default.json")
def default_quota(
    project_id: str,
    ctx: RequestContext = Depends(authorize("network:quotas:show")),
    runtime: Any = Depends(get_runtime),
) -> dict[str, Any]:
    _own_or_admin(ctx, project_id)
    return {"quota": runtime.network.quotas.defaults() | {"project_id": project_id, "tenant_id": project_id}}


@router.get("/v2.0/quotas/{project_id}/details")
@router.get("/v2.0/quotas/{project_id}/details.json")
def quota_details(
    project_id: str,
    ctx: RequestContext = Depends(authorize("network:quotas:show")),
    runtime: Any = Depends(get_runtime),
) -> dict[str, Any]:
    _own_or_admin(ctx, project_id)
    return {"quota": runtime.network.quotas.details(project_id)}


@router.get("/v2.0/quotas/{project_id}")
def show_quota(
    project_id: str,
    ctx: RequestContext = Depends(authorize("network:quotas:show")),
    runtime: Any = Depends(get_runtime),
) -> dict[str, Any]:
    _own_or_admin(ctx, project_id)
    return {"quota": runtime.network.quotas.show(project_id)}


@router.put("/v2.0/quotas/{project_id}")
def update_quota(
    project_id: str,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authorize("network:quotas:update")),
    runtime: Any = Depends(get_runtime),
) -> dict[str, Any]:
    if not isinstance(body, dict) or "quota" not in body:
        raise BadRequest("Resource body required: expected an object under 'quota'.", code="BadRequest")
    return {"quota": runtime.network.quotas.update(project_id, body["quota"])}


@router.delete("/v2.0/quotas/{project_id}", status_code=204)
def reset_quota(
    project_id: str,
    ctx: RequestContext = Depends(authorize("network:quotas:delete")),
    runtime: Any = Depends(get_runtime),
) -> Response:
    runtime.network.quotas.reset(project_id)
    return Response(status_code=204)
