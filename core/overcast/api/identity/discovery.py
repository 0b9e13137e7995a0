"""Version discovery (``GET /identity`` and ``GET /identity/v3``) and the read-only
catalog resources (``/v3/services``, ``/v3/endpoints``, ``/v3/regions``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.identity import render
from overcast.context import RequestContext
from overcast.errors import NotFound
from overcast.identity.catalog import endpoint_records, service_records
from overcast.runtime import Runtime

router = APIRouter()

API_VERSION = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"


def _version(request: Request) -> dict[str, Any]:
    return {
        "id": API_VERSION,
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": render.v3_url(request, "/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


# The version documents are async (pure computation): every client reads them first, and a
# sync route would cost a hop to the thread pool.


async def versions(request: Request) -> Response:
    """``GET /identity`` (mounted in the package, which has the prefix)."""
    return render.json_response(
        {"versions": {"values": [_version(request)]}}, 300, {"Location": render.v3_url(request, "/")}
    )


@router.get("/v3")
@router.get("/v3/")
async def version(request: Request) -> Response:
    return render.json_response({"version": _version(request)})


def _base(runtime: Runtime) -> str:
    return runtime.config.api.base_url()


@router.get("/v3/services")
def list_services(
    request: Request,
    type: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:services:list")),
) -> Response:
    items = [s for s in service_records(_base(runtime)) if type is None or s["type"] == type]
    for s in items:
        s["links"] = {"self": render.v3_url(request, f"/services/{s['id']}")}
    return render.collection(request, "services", items)


@router.get("/v3/services/{service_id}")
def show_service(
    request: Request,
    service_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:services:show")),
) -> Response:
    for s in service_records(_base(runtime)):
        if s["id"] == service_id:
            s["links"] = {"self": render.v3_url(request, f"/services/{s['id']}")}
            return render.json_response({"service": s})
    raise NotFound(f"Could not find service: {service_id}.", code="ServiceNotFound")


@router.get("/v3/endpoints")
def list_endpoints(
    request: Request,
    service_id: str | None = None,
    interface: str | None = None,
    region_id: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoints:list")),
) -> Response:
    items = [
        e
        for e in endpoint_records(_base(runtime), runtime.config.api.region, runtime.config.object_store_url())
        if (service_id is None or e["service_id"] == service_id)
        and (interface is None or e["interface"] == interface)
        and (region_id is None or e["region_id"] == region_id)
    ]
    for e in items:
        e["links"] = {"self": render.v3_url(request, f"/endpoints/{e['id']}")}
    return render.collection(request, "endpoints", items)


@router.get("/v3/endpoints/{endpoint_id}")
def show_endpoint(
    request: Request,
    endpoint_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoints:show")),
) -> Response:
    for e in endpoint_records(_base(runtime), runtime.config.api.region, runtime.config.object_store_url()):
        if e["id"] == endpoint_id:
            e["links"] = {"self": render.v3_url(request, f"/endpoints/{e['id']}")}
            return render.json_response({"endpoint": e})
    raise NotFound(f"Could not find endpoint: {endpoint_id}.", code="EndpointNotFound")


def _region(request: Request, name: str) -> dict[str, Any]:
    return {
        "id": name,
        "description": "",
        "parent_region_id": None,
        "links": {"self": render.v3_url(request, f"/regions/{name}")},
    }


@router.get("/v3/regions")
def list_regions(
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:regions:list")),
) -> Response:
    return render.collection(request, "regions", [_region(request, runtime.config.api.region)])


@router.get("/v3/regions/{region_id}")
def show_region(
    request: Request,
    region_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:regions:show")),
) -> Response:
    if region_id != runtime.config.api.region:
        raise NotFound(f"Could not find region: {region_id}.", code="RegionNotFound")
    return render.json_response({"region": _region(request, region_id)})
