"""The catalog resources: ``/v3/regions``, ``/v3/services`` and ``/v3/endpoints``.

Overcast's own services, endpoints and region (from the configuration) are listed first
and refuse changes (403); the ones an admin adds are stored (:mod:`overcast.identity.catalog_store`)."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.identity import body as b
from overcast.api.identity import render
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.identity.catalog import endpoint_records, service_records
from overcast.identity.catalog_store import INTERFACES, builtin_refused
from overcast.runtime import Runtime

router = ResourceRouter()


def _extra(obj: dict[str, Any], known: set[str]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in known and k not in ("id", "links")}


# --- regions ------------------------------------------------------------------------------


def _builtin_region(request: Request, runtime: Runtime) -> dict[str, Any]:
    name = runtime.config.api.region
    return {
        "id": name,
        "description": "",
        "parent_region_id": None,
        "links": {"self": render.v3_url(request, f"/regions/{name}")},
    }


@router.get("/v3/regions")
def list_regions(
    request: Request,
    parent_region_id: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:regions:list")),
) -> Response:
    items = [] if parent_region_id is not None else [_builtin_region(request, runtime)]
    items += [render.region(request, r) for r in runtime.identity.catalog_store.list_regions(parent_region_id)]
    return render.collection(request, "regions", items)


@router.get("/v3/regions/{region_id}")
def show_region(
    request: Request,
    region_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:regions:show")),
) -> Response:
    if region_id == runtime.config.api.region:
        return render.json_response({"region": _builtin_region(request, runtime)})
    return render.json_response(
        {"region": render.region(request, runtime.identity.catalog_store.get_region(region_id))}
    )


def _create_region(request: Request, runtime: Runtime, region_id: str | None, body: Any) -> Response:
    obj = b.entity(body, "region")
    given = b.string(obj, "id")
    if region_id and given and given != region_id:
        raise b.invalid("id", "the id in the body differs from the one in the URL.")
    region = runtime.identity.catalog_store.create_region(
        region_id or given,
        description=b.string(obj, "description", max_len=65535) or "",
        parent_region_id=b.string(obj, "parent_region_id"),
        extra=_extra(obj, {"description", "parent_region_id"}),
        reserved=(runtime.config.api.region,),
    )
    return render.json_response({"region": render.region(request, region)}, 201)


@router.post("/v3/regions")
def create_region(
    request: Request,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:regions:create")),
) -> Response:
    return _create_region(request, runtime, None, body)


@router.put("/v3/regions/{region_id}")
def create_region_with_id(
    request: Request,
    region_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:regions:create")),
) -> Response:
    return _create_region(request, runtime, region_id, body)


@router.patch("/v3/regions/{region_id}")
def update_region(
    request: Request,
    region_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:regions:update")),
) -> Response:
    if region_id == runtime.config.api.region:
        raise builtin_refused("region", region_id)
    obj = b.entity(body, "region")
    if "id" in obj and obj["id"] != region_id:
        raise b.invalid("id", "a region's id cannot change.")
    changes = _extra(obj, set())
    for field in ("description", "parent_region_id"):
        if field in obj:
            changes[field] = b.string(obj, field, max_len=65535)
    region = runtime.identity.catalog_store.update_region(region_id, changes)
    return render.json_response({"region": render.region(request, region)})


@router.delete("/v3/regions/{region_id}")
def delete_region(
    region_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:regions:delete")),
) -> Response:
    if region_id == runtime.config.api.region:
        raise builtin_refused("region", region_id)
    runtime.identity.catalog_store.delete_region(region_id)
    return render.empty_response(204)


# --- services -----------------------------------------------------------------------------


def _builtin_services(request: Request, runtime: Runtime) -> dict[str, dict[str, Any]]:
    out = {}
    for s in service_records(runtime.config.api.base_url()):
        s["links"] = {"self": render.v3_url(request, f"/services/{s['id']}")}
        out[s["id"]] = s
    return out


@router.get("/v3/services")
def list_services(
    request: Request,
    type: str | None = None,
    name: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:services:list")),
) -> Response:
    items = [
        s
        for s in _builtin_services(request, runtime).values()
        if (type is None or s["type"] == type) and (name is None or s["name"] == name)
    ]
    items += [render.service(request, s) for s in runtime.identity.catalog_store.list_services(type, name)]
    return render.collection(request, "services", items)


@router.get("/v3/services/{service_id}")
def show_service(
    request: Request,
    service_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:services:show")),
) -> Response:
    builtin = _builtin_services(request, runtime).get(service_id)
    if builtin is not None:
        return render.json_response({"service": builtin})
    service = runtime.identity.catalog_store.get_service(service_id)
    return render.json_response({"service": render.service(request, service)})


_SERVICE_FIELDS = {"type": "name", "name": "str", "description": "str", "enabled": "bool"}


@router.post("/v3/services")
def create_service(
    request: Request,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:services:create")),
) -> Response:
    obj = b.entity(body, "service")
    values = b.changes(obj, _SERVICE_FIELDS)
    if "type" not in values:
        raise b.invalid("type", "'type' is a required property.")
    service = runtime.identity.catalog_store.create_service(
        values["type"],
        name=values.get("name") or "",
        description=values.get("description") or "",
        enabled=values.get("enabled") is not False,
        extra=_extra(obj, set(_SERVICE_FIELDS)),
    )
    return render.json_response({"service": render.service(request, service)}, 201)


@router.patch("/v3/services/{service_id}")
def update_service(
    request: Request,
    service_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:services:update")),
) -> Response:
    if service_id in _builtin_services(request, runtime):
        raise builtin_refused("service", service_id)
    obj = b.entity(body, "service")
    changes = {**_extra(obj, set(_SERVICE_FIELDS)), **b.changes(obj, _SERVICE_FIELDS)}
    service = runtime.identity.catalog_store.update_service(service_id, changes)
    return render.json_response({"service": render.service(request, service)})


@router.delete("/v3/services/{service_id}")
def delete_service(
    request: Request,
    service_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:services:delete")),
) -> Response:
    if service_id in _builtin_services(request, runtime):
        raise builtin_refused("service", service_id)
    runtime.identity.catalog_store.delete_service(service_id)
    return render.empty_response(204)


# --- endpoints ----------------------------------------------------------------------------


def _builtin_endpoints(request: Request, runtime: Runtime) -> dict[str, dict[str, Any]]:
    config = runtime.config
    out = {}
    for e in endpoint_records(config.api.base_url(), config.api.region, config.object_store_url()):
        e["links"] = {"self": render.v3_url(request, f"/endpoints/{e['id']}")}
        out[e["id"]] = e
    return out


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
        for e in _builtin_endpoints(request, runtime).values()
        if (service_id is None or e["service_id"] == service_id)
        and (interface is None or e["interface"] == interface)
        and (region_id is None or e["region_id"] == region_id)
    ]
    stored = runtime.identity.catalog_store.list_endpoints(service_id, interface, region_id)
    items += [render.endpoint(request, e) for e in stored]
    return render.collection(request, "endpoints", items)


@router.get("/v3/endpoints/{endpoint_id}")
def show_endpoint(
    request: Request,
    endpoint_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoints:show")),
) -> Response:
    builtin = _builtin_endpoints(request, runtime).get(endpoint_id)
    if builtin is not None:
        return render.json_response({"endpoint": builtin})
    endpoint = runtime.identity.catalog_store.get_endpoint(endpoint_id)
    return render.json_response({"endpoint": render.endpoint(request, endpoint)})


_ENDPOINT_KNOWN = {"service_id", "interface", "url", "region", "region_id", "enabled"}


def _endpoint_values(obj: dict[str, Any], creating: bool) -> dict[str, Any]:
    """Validated endpoint fields present in ``obj`` (all the required ones when ``creating``)."""
    values: dict[str, Any] = {}
    for field in ("service_id", "interface", "url"):
        if field in obj or creating:
            values[field] = b.string(obj, field, required=True, max_len=65535 if field == "url" else 255)
    if "interface" in values and values["interface"] not in INTERFACES:
        raise b.invalid("interface", f"{values['interface']!r} is not one of {list(INTERFACES)}.")
    if "enabled" in obj:
        values["enabled"] = b.boolean(obj, "enabled")
    # ``region`` is the legacy name of ``region_id``; both may be given if they agree
    region = b.string(obj, "region_id") if "region_id" in obj else None
    legacy = b.string(obj, "region") if "region" in obj else None
    if region and legacy and region != legacy:
        raise b.invalid("region_id", "region_id and region differ.")
    if "region_id" in obj or "region" in obj:
        values["region_id"] = region or legacy
    return values


@router.post("/v3/endpoints")
def create_endpoint(
    request: Request,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoints:create")),
) -> Response:
    obj = b.entity(body, "endpoint")
    values = _endpoint_values(obj, creating=True)
    endpoint = runtime.identity.catalog_store.create_endpoint(
        values["service_id"],
        values["interface"],
        values["url"],
        values.get("region_id"),
        values.get("enabled") is not False,
        builtin_region=runtime.config.api.region,
        service_exists=values["service_id"] in _builtin_services(request, runtime),
        extra=_extra(obj, _ENDPOINT_KNOWN),
    )
    return render.json_response({"endpoint": render.endpoint(request, endpoint)}, 201)


@router.patch("/v3/endpoints/{endpoint_id}")
def update_endpoint(
    request: Request,
    endpoint_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoints:update")),
) -> Response:
    if endpoint_id in _builtin_endpoints(request, runtime):
        raise builtin_refused("endpoint", endpoint_id)
    obj = b.entity(body, "endpoint")
    values = {**_extra(obj, _ENDPOINT_KNOWN), **_endpoint_values(obj, creating=False)}
    service_id = values.get("service_id")
    endpoint = runtime.identity.catalog_store.update_endpoint(
        endpoint_id,
        values,
        builtin_region=runtime.config.api.region,
        service_exists=service_id is not None and service_id in _builtin_services(request, runtime),
    )
    return render.json_response({"endpoint": render.endpoint(request, endpoint)})


@router.delete("/v3/endpoints/{endpoint_id}")
def delete_endpoint(
    request: Request,
    endpoint_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:endpoints:delete")),
) -> Response:
    if endpoint_id in _builtin_endpoints(request, runtime):
        raise builtin_refused("endpoint", endpoint_id)
    runtime.identity.catalog_store.delete_endpoint(endpoint_id)
    runtime.identity.endpoint_filter.forget_endpoint(endpoint_id)
    return render.empty_response(204)
