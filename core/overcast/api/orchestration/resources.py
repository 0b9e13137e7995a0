"""A stack's resources: list, show (with live attributes), metadata, mark unhealthy
(``PATCH``), and ``signal``."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, runtime_of
from overcast.api.orchestration.common import HTTPBadRequest, bool_param, check_project, json_body, reply
from overcast.api.orchestration.views import resource_view
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext

router = ResourceRouter()
PREFIX = "/stacks/{stack_name}/{stack_id}/resources"
FILTERS = ("type", "status", "name", "action", "id", "physical_resource_id")


def _ctx(request: Request, tenant_id: str, ctx: RequestContext, stack_name: str, stack_id: str) -> tuple[Any, Any]:
    check_project(tenant_id, ctx)
    svc = runtime_of(request).orchestration
    return svc, svc.get(ctx, stack_name, stack_id)


def _required_by(st: Any) -> dict[str, list[str]]:
    from overcast.orchestration.template import functions
    from overcast.orchestration.template.hot import Template

    out: dict[str, list[str]] = {}
    try:
        tmpl = Template(st.template, st.files)
    except Exception:
        return out
    for name, defn in tmpl.resources.items():
        deps: set[str] = set(defn.depends_on)
        try:
            deps |= functions.check(dict(defn.properties), tmpl.static(name))
        except Exception:
            continue
        for dep in deps:
            out.setdefault(dep, []).append(name)
    return out


@router.get(PREFIX)
def list_resources(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:resource:index")),
) -> Response:
    svc, st = _ctx(request, tenant_id, ctx, stack_name, stack_id)
    q = request.query_params
    invalid = [k for k in q.keys() if k not in (*FILTERS, "nested_depth", "with_detail")]
    if invalid:
        raise HTTPBadRequest(f"Invalid filter parameters {invalid}")
    with_detail = bool_param("with_detail", q.get("with_detail"))
    try:
        depth = int(q.get("nested_depth", "0"))
    except ValueError:
        raise HTTPBadRequest(f"Invalid value '{q['nested_depth']}' for nested_depth, expected an integer") from None
    out: list[dict[str, Any]] = []
    _collect(request, svc, st, q, with_detail, depth, None, out)
    return reply({"resources": out})


def _collect(
    request: Request,
    svc: Any,
    st: Any,
    q: Any,
    with_detail: bool,
    depth: int,
    parent: str | None,
    out: list[dict[str, Any]],
) -> None:
    """The stack's resources, then (``nested_depth``) its child stacks', each naming its
    ``parent_resource`` as Heat does."""
    required = _required_by(st)
    run = svc.run_of(st) if with_detail else None
    for row in svc.store.resources(st.id, current_only=True):
        view = resource_view(request, st, row, required.get(row.name, []))
        if parent is not None:
            view["parent_resource"] = parent
        keep = not (
            ("type" in q and row.type not in q.getlist("type"))
            or ("name" in q and row.name not in q.getlist("name"))
            or ("status" in q and row.status not in q.getlist("status"))
            or ("action" in q and row.action not in q.getlist("action"))
            or ("physical_resource_id" in q and row.physical_id not in q.getlist("physical_resource_id"))
        )
        if keep:
            if run is not None:
                view["attributes"] = run.scope.resource_attr(row.name, None, []) or {}
            out.append(view)
        if depth > 0 and row.nested_stack_id:
            child = svc.store.stack(row.nested_stack_id)
            if child is not None and child.deleted_at is None:
                _collect(request, svc, child, q, with_detail, depth - 1, row.name, out)


@router.get(PREFIX + "/{resource_name}")
def show_resource(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    resource_name: str,
    ctx: RequestContext = Depends(authorize("orchestration:resource:show")),
) -> Response:
    svc, st = _ctx(request, tenant_id, ctx, stack_name, stack_id)
    row = svc.resource(st, resource_name)
    run = svc.run_of(st)
    attrs: dict[str, Any] = {}
    res = run.res.get(resource_name)
    if res is not None:
        names = [*type(res.rtype).attributes_schema, *request.query_params.getlist("with_attr")]
        for name in names:
            try:
                attrs[name] = res.rtype.get_attribute(res, name)
            except Exception:
                attrs[name] = None
    defn = run.template.resources.get(resource_name)
    view = resource_view(
        request,
        st,
        row,
        _required_by(st).get(resource_name, []),
        detail=True,
        attributes=attrs,
        description=defn.description if defn else "",
    )
    return reply({"resource": view})


@router.get(PREFIX + "/{resource_name}/metadata")
def resource_metadata(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    resource_name: str,
    ctx: RequestContext = Depends(authorize("orchestration:resource:metadata")),
) -> Response:
    svc, st = _ctx(request, tenant_id, ctx, stack_name, stack_id)
    return reply({"metadata": svc.resource(st, resource_name).rsrc_metadata or {}})


@router.patch(PREFIX + "/{resource_name}")
async def mark_unhealthy(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    resource_name: str,
    ctx: RequestContext = Depends(authorize("orchestration:resource:mark_unhealthy")),
) -> Response:
    svc, st = _ctx(request, tenant_id, ctx, stack_name, stack_id)
    body = await json_body(request)
    unknown = [k for k in body if k not in ("mark_unhealthy", "resource_status_reason")]
    if unknown:
        raise HTTPBadRequest(f"Invalid keys in resource mark unhealthy {', '.join(unknown)}")
    if "mark_unhealthy" not in body:
        raise HTTPBadRequest("Missing mandatory (mark_unhealthy) key from mark unhealthy request")
    value = body["mark_unhealthy"]
    if not isinstance(value, bool):
        value = bool_param("mark_unhealthy", str(value))
    svc.mark_unhealthy(st, resource_name, value, str(body.get("resource_status_reason") or ""))
    return reply(None, 200)


@router.post(PREFIX + "/{resource_name}/signal")
async def signal_resource(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    resource_name: str,
    ctx: RequestContext = Depends(authorize("orchestration:resource:signal")),
) -> Response:
    svc, st = _ctx(request, tenant_id, ctx, stack_name, stack_id)
    row = svc.resource(st, resource_name)
    if row.type != "OS::Heat::WaitConditionHandle":
        from overcast.orchestration.errors import HeatError

        raise HeatError(f"Signal resource during {row.action} is not supported.", code="ResourceActionNotSupported")
    body = await json_body(request)
    svc.signal(st.id, resource_name, (row.data or {}).get("secret", ""), body)
    return reply(None, 200)
