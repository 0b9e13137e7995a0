"""A stack's events (and one resource's): list with Heat's filters, ``marker``, ``limit``
and ``sort_dir``, and show."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, runtime_of
from overcast.api.orchestration.common import HTTPBadRequest, check_project, link, reply, stack_url
from overcast.api.orchestration.views import event_view
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.orchestration.errors import EntityNotFound

router = ResourceRouter()
PREFIX = "/stacks/{stack_name}/{stack_id}"


def _list(
    request: Request, tenant_id: str, ctx: RequestContext, stack_name: str, stack_id: str, resource: str | None
) -> Response:
    check_project(tenant_id, ctx)
    svc = runtime_of(request).orchestration
    st = svc.get(ctx, stack_name, stack_id)
    if resource is not None and not any(r.name == resource for r in svc.store.resources(st.id)):
        if not svc.store.events(st.id, resource):
            raise EntityNotFound("Resource", resource)
    q = request.query_params
    try:
        depth = int(q.get("nested_depth", "0"))
    except ValueError:
        raise HTTPBadRequest(f"Invalid value '{q['nested_depth']}' for nested_depth, expected an integer") from None
    owners = {st.id: st}
    frontier = [st]
    for _ in range(depth if resource is None else 0):  # child stacks' events too, as Heat's nested_depth
        frontier = [child for parent in frontier for child in svc.store.children(parent.id)]
        owners.update({c.id: c for c in frontier})
    events: list[Any] = sorted((e for sid in owners for e in svc.store.events(sid, resource)), key=lambda e: e.seq)
    for key, attr in (
        ("resource_action", "action"),
        ("resource_status", "status"),
        ("resource_name", "resource_name"),
        ("resource_type", "type"),
    ):
        wanted = q.getlist(key)
        if wanted:
            events = [e for e in events if getattr(e, attr) in wanted]
    if q.get("sort_dir", "asc") == "desc":
        events.reverse()
    marker = q.get("marker")
    if marker:
        ids = [e.id for e in events]
        if marker not in ids:
            raise EntityNotFound("Event", marker)
        events = events[ids.index(marker) + 1 :]
    if q.get("limit") is not None:
        try:
            limit = int(q["limit"])
        except ValueError:
            raise HTTPBadRequest("Only integer is acceptable by 'limit'.") from None
        events = events[: max(limit, 0)]
    views = []
    for e in events:
        view = event_view(request, owners[e.stack_id], e)
        if depth:
            view["links"].append(link(stack_url(request, st.project_id, st.name, st.id), "root_stack"))
        views.append(view)
    return reply({"events": views})


@router.get(PREFIX + "/events")
def list_events(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:events:index")),
) -> Response:
    return _list(request, tenant_id, ctx, stack_name, stack_id, None)


@router.get(PREFIX + "/resources/{resource_name}/events")
def list_resource_events(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    resource_name: str,
    ctx: RequestContext = Depends(authorize("orchestration:events:index")),
) -> Response:
    return _list(request, tenant_id, ctx, stack_name, stack_id, resource_name)


@router.get(PREFIX + "/resources/{resource_name}/events/{event_id}")
def show_event(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    resource_name: str,
    event_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:events:show")),
) -> Response:
    check_project(tenant_id, ctx)
    svc = runtime_of(request).orchestration
    st = svc.get(ctx, stack_name, stack_id)
    for e in svc.store.events(st.id, resource_name):
        if e.id == event_id:
            return reply({"event": event_view(request, st, e, detail=True)})
    raise EntityNotFound("Event", event_id)
