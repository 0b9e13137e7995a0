"""``/volume/v3/{project_id}/qos-specs``: QoS specs and their volume type associations (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.api.volume.common import ApiVersion, Version, base_url, body_of, check_project, json_body, reply, truthy
from overcast.context import RequestContext
from overcast.db.models.volume import VolumeQosSpecs
from overcast.errors import BadRequest
from overcast.runtime import Runtime
from overcast.volume.qos import QosSpecs

router = ResourceRouter()


def _qos(runtime: Runtime) -> QosSpecs:
    return runtime.service("volume").qos


def _view(row: VolumeQosSpecs) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "consumer": row.consumer, "specs": dict(row.specs or {})}


def _links(request: Request, project_id: str, qos_id: str) -> list[dict[str, str]]:
    url = base_url(request)
    return [
        {"href": f"{url}/volume/v3/{project_id}/qos-specs/{qos_id}", "rel": "self"},
        {"href": f"{url}/volume/{project_id}/qos-specs/{qos_id}", "rel": "bookmark"},
    ]


@router.get("/qos-specs")
def list_qos(
    project_id: str,
    ctx: RequestContext = Depends(authorize("volume:qos_specs:list")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        return reply({"qos_specs": [_view(r) for r in _qos(runtime).all(s)]}, 200, version)


@router.post("/qos-specs")
async def create_qos(
    project_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:qos_specs:create")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "qos_specs")
    with runtime.db.session() as s:
        row = _qos(runtime).create(s, body)
        out = {"qos_specs": _view(row), "links": _links(request, project_id, row.id)}
    return reply(out, 200, version)


@router.get("/qos-specs/{qos_id}")
def show_qos(
    project_id: str,
    qos_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:qos_specs:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        out = {"qos_specs": _view(_qos(runtime).get(s, qos_id)), "links": _links(request, project_id, qos_id)}
    return reply(out, 200, version)


@router.put("/qos-specs/{qos_id}")
async def set_keys(
    project_id: str,
    qos_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:qos_specs:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = body_of(await json_body(request), "qos_specs")
    with runtime.db.session() as s:
        changed = _qos(runtime).set_keys(s, qos_id, body)
    if "consumer" in body:
        changed["consumer"] = str(body["consumer"])
    return reply({"qos_specs": changed}, 200, version)


@router.put("/qos-specs/{qos_id}/delete_keys")
async def unset_keys(
    project_id: str,
    qos_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:qos_specs:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise BadRequest("Missing required element 'keys' in request body.")
    with runtime.db.session() as s:
        _qos(runtime).unset_keys(s, qos_id, body["keys"])
    return reply(None, 202, version)


@router.delete("/qos-specs/{qos_id}")
def delete_qos(
    project_id: str,
    qos_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:qos_specs:delete")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        _qos(runtime).delete(s, qos_id, truthy(request.query_params.get("force", "false")))
    return reply(None, 202, version)


@router.get("/qos-specs/{qos_id}/associations")
def associations(
    project_id: str,
    qos_id: str,
    ctx: RequestContext = Depends(authorize("volume:qos_specs:show")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        rows = _qos(runtime).associations(s, qos_id)
        out = [{"association_type": "volume_type", "id": r.id, "name": r.name} for r in rows]
    return reply({"qos_associations": out}, 200, version)


@router.get("/qos-specs/{qos_id}/associate")
def associate(
    project_id: str,
    qos_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:qos_specs:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        _qos(runtime).associate(s, qos_id, request.query_params.get("vol_type_id"))
    return reply(None, 202, version)


@router.get("/qos-specs/{qos_id}/disassociate")
def disassociate(
    project_id: str,
    qos_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("volume:qos_specs:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        _qos(runtime).disassociate(s, qos_id, request.query_params.get("vol_type_id"))
    return reply(None, 202, version)


@router.get("/qos-specs/{qos_id}/disassociate_all")
def disassociate_all(
    project_id: str,
    qos_id: str,
    ctx: RequestContext = Depends(authorize("volume:qos_specs:update")),
    runtime: Runtime = Depends(get_runtime),
    version: ApiVersion = Version,
) -> Response:
    check_project(project_id, ctx)
    with runtime.db.session() as s:
        _qos(runtime).disassociate_all(s, qos_id)
    return reply(None, 202, version)
