"""``/os-aggregates`` (Nova, admin; issue 18): host aggregates, their hosts and metadata."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from overcast.api.compute.common import iso_micro, json_body, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.db.models.aggregates import AggregateRecord
from overcast.errors import BadRequest

router = ResourceRouter(route_class=MicroversionRoute)


def _view(row: AggregateRecord, version: tuple[int, int], full: bool = True) -> dict[str, Any]:
    meta = dict(row.metadata_ or {})
    out: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "availability_zone": meta.get("availability_zone"),
        "created_at": iso_micro(row.created_at),
        "updated_at": iso_micro(row.updated_at),
        "deleted": False,
        "deleted_at": None,
    }
    if full:
        out["hosts"] = list(row.hosts or [])
        out["metadata"] = meta
    if version >= (2, 41):
        out["uuid"] = row.uuid
    return out


def _body(data: Any, key: str) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {data!r}.")
    return data[key]


@router.get("/v2.1/os-aggregates")
def list_aggregates(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:aggregates:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    version = version_of(request)
    return reply({"aggregates": [_view(r, version) for r in runtime.compute.aggregates.list()]})


@router.post("/v2.1/os-aggregates")
async def create_aggregate(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:aggregates:create")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    body = _body(await json_body(request), "aggregate")
    if set(body) - {"name", "availability_zone"}:
        raise BadRequest("Additional properties are not allowed in aggregate.")
    row = runtime.compute.aggregates.create(body.get("name"), body.get("availability_zone"))
    return reply({"aggregate": _view(row, version_of(request), full=False)})


@router.get("/v2.1/os-aggregates/{aggregate_id}")
def show_aggregate(
    aggregate_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:aggregates:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"aggregate": _view(runtime.compute.aggregates.get(aggregate_id), version_of(request))})


@router.put("/v2.1/os-aggregates/{aggregate_id}")
async def update_aggregate(
    aggregate_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:aggregates:update")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    body = _body(await json_body(request), "aggregate")
    row = runtime.compute.aggregates.update(aggregate_id, body)
    return reply({"aggregate": _view(row, version_of(request))})


@router.delete("/v2.1/os-aggregates/{aggregate_id}")
def delete_aggregate(
    aggregate_id: str,
    ctx: RequestContext = Depends(authorize("compute:aggregates:delete")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    runtime.compute.aggregates.delete(aggregate_id)
    return reply(None, 200)


@router.post("/v2.1/os-aggregates/{aggregate_id}/action")
async def aggregate_action(
    aggregate_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:aggregates:action")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    data = await json_body(request)
    if not isinstance(data, dict) or len(data) != 1:
        raise BadRequest("Invalid input: exactly one aggregate action is expected.")
    action, args = next(iter(data.items()))
    svc = runtime.compute.aggregates
    if not isinstance(args, dict):
        raise BadRequest(f"Invalid input for field/attribute {action}.")
    if action == "add_host":
        row = svc.add_host(aggregate_id, args.get("host"))
    elif action == "remove_host":
        row = svc.remove_host(aggregate_id, args.get("host"))
    elif action == "set_metadata":
        row = svc.set_metadata(aggregate_id, args.get("metadata"))
    else:
        raise BadRequest(f"Invalid input for field/attribute {action}: no such aggregate action.")
    return reply({"aggregate": _view(row, version_of(request))})
