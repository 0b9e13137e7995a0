"""Stacks: list, create, preview, lookup (302 to ``name/id``), show, update (PUT, PATCH),
delete, abandon (refused as Heat's default config does), template, environment, files,
outputs."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, runtime_of
from overcast.api.orchestration.common import (
    HTTPBadRequest,
    HTTPForbidden,
    base,
    bool_param,
    check_project,
    json_body,
    link,
    reply,
    stack_url,
)
from overcast.api.orchestration.instantiation import args_of, environments_of, files_of, parameters_of, template_of
from overcast.api.orchestration.views import resource_view, stack_detail, stack_summary
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.orchestration.errors import EntityNotFound, NotSupported

router = ResourceRouter()


def _svc(request: Request) -> Any:
    return runtime_of(request).orchestration


def _hidden(st: Any) -> list[str]:
    params = (st.template or {}).get("parameters") or {}
    return [k for k, v in params.items() if isinstance(v, dict) and v.get("hidden")]


@router.get("/stacks")
@router.get("/stacks/detail")
def list_stacks(
    request: Request, tenant_id: str, ctx: RequestContext = Depends(authorize("orchestration:stacks:list"))
) -> Response:
    check_project(tenant_id, ctx)
    q = request.query_params
    global_tenant = bool_param("global_tenant", q.get("global_tenant"))
    if global_tenant and not ctx.is_admin:
        raise HTTPForbidden()
    rows = _svc(request).list_stacks(
        ctx,
        all_projects=global_tenant,
        show_nested=bool_param("show_nested", q.get("show_nested")),
        show_deleted=bool_param("show_deleted", q.get("show_deleted")),
    )
    for key in ("name", "status", "action"):
        wanted = q.getlist(key)
        if wanted:
            if key == "name":
                rows = [r for r in rows if r.name in wanted]
            elif key == "status":
                rows = [r for r in rows if r.status in wanted or f"{r.action}_{r.status}" in wanted]
            else:
                rows = [r for r in rows if r.action in wanted]
    for key in ("tags", "tags_any", "not_tags", "not_tags_any"):  # comma-separated, as Heat's
        if q.get(key):
            tagged = {t for t in q[key].split(",") if t}
            match = {
                "tags": lambda tags, w=tagged: w <= tags,
                "tags_any": lambda tags, w=tagged: bool(w & tags),
                "not_tags": lambda tags, w=tagged: not w <= tags,
                "not_tags_any": lambda tags, w=tagged: not (w & tags),
            }[key]
            rows = [r for r in rows if match(set(r.tags or []))]
    if q.get("sort_dir", "desc") == "asc":
        rows.reverse()
    if q.get("marker"):
        ids = [r.id for r in rows]
        if q["marker"] not in ids:
            raise HTTPBadRequest(f"Invalid marker {q['marker']}")
        rows = rows[ids.index(q["marker"]) + 1 :]
    if q.get("limit") is not None:
        try:
            limit = int(q["limit"])
        except ValueError:
            raise HTTPBadRequest("Only integer is acceptable by 'limit'.") from None
        if limit < 0:
            raise HTTPBadRequest("Value must be >= 0 for field 'limit'.")
        rows = rows[:limit]
    body: dict[str, Any] = {"stacks": [stack_summary(request, r, include_project=global_tenant) for r in rows]}
    if bool_param("with_count", q.get("with_count")):
        body["count"] = len(rows)
    return reply(body)


async def _create(request: Request, tenant_id: str, ctx: RequestContext, preview: bool) -> Response:
    check_project(tenant_id, ctx)
    body = await json_body(request)
    if "stack_name" not in body:
        raise HTTPBadRequest("No stack name specified")
    template = template_of(body)
    assert template is not None
    files = files_of(body)
    docs = environments_of(body, files)
    args = args_of(body)
    svc = _svc(request)
    import anyio

    st = await anyio.to_thread.run_sync(
        lambda: svc.create(
            ctx,
            body["stack_name"],
            template,
            files,
            docs,
            parameters_of(body),
            disable_rollback=args.get("disable_rollback", True),
            timeout_mins=args.get("timeout_mins"),
            tags=args.get("tags"),
            preview=preview,
        )
    )
    if preview:
        return reply({"stack": await anyio.to_thread.run_sync(lambda: _preview(request, svc, st))})
    return reply({"stack": {"id": st.id, "links": [link(stack_url(request, st.project_id, st.name, st.id))]}}, 201)


def _preview(request: Request, svc: Any, st: Any) -> dict[str, Any]:
    from overcast.orchestration.template.hot import Template

    tmpl = Template(st.template, st.files)
    out = stack_detail(request, st, None, _hidden(st))
    for key in ("stack_status", "stack_status_reason", "deletion_time", "updated_time"):
        out.pop(key, None)
    out["id"] = "None"
    out["links"] = [link(f"{base(request, st.project_id)}/stacks/{st.name}/None")]
    out["resources"] = [
        {
            "resource_name": name,
            "logical_resource_id": name,
            "resource_type": defn.type,
            "physical_resource_id": "",
            "resource_action": "INIT",
            "resource_status": "COMPLETE",
            "resource_status_reason": "",
            "description": defn.description,
            "required_by": [],
            "properties": dict(defn.properties),
            "metadata": dict(defn.metadata),
            "stack_name": st.name,
            "stack_identity": {"stack_name": st.name, "stack_id": "None", "tenant": st.project_id, "path": ""},
        }
        for name, defn in tmpl.resources.items()
    ]
    return out


@router.post("/stacks")
async def create_stack(
    request: Request, tenant_id: str, ctx: RequestContext = Depends(authorize("orchestration:stacks:create"))
) -> Response:
    return await _create(request, tenant_id, ctx, preview=False)


@router.post("/stacks/preview")
async def preview_stack(
    request: Request, tenant_id: str, ctx: RequestContext = Depends(authorize("orchestration:stacks:preview"))
) -> Response:
    return await _create(request, tenant_id, ctx, preview=True)


def _redirect(request: Request, tenant_id: str, ctx: RequestContext, stack_name: str, path: str = "") -> Response:
    check_project(tenant_id, ctx)
    st = _svc(request).lookup(ctx, stack_name)
    location = stack_url(request, st.project_id, st.name, st.id)
    if path:
        location = f"{location}/{path}"
    if request.query_params:
        location += "?" + urlencode(list(request.query_params.multi_items()))
    return Response(status_code=302, headers={"Location": location})


@router.api_route("/stacks/{stack_name}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def lookup_stack(
    request: Request,
    tenant_id: str,
    stack_name: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:lookup")),
) -> Response:
    return _redirect(request, tenant_id, ctx, stack_name)


for _sub in ("resources", "events", "template", "environment", "files", "outputs"):

    def _make(sub: str) -> Any:
        def lookup_sub(
            request: Request,
            tenant_id: str,
            stack_name: str,
            ctx: RequestContext = Depends(authorize("orchestration:stacks:lookup")),
        ) -> Response:
            return _redirect(request, tenant_id, ctx, stack_name, sub)

        lookup_sub.__name__ = f"lookup_stack_{sub}"
        return lookup_sub

    router.add_api_route(f"/stacks/{{stack_name}}/{_sub}", _make(_sub), methods=["GET"])
router.add_api_route("/stacks/{stack_name}/actions", _make("actions"), methods=["POST"])


def _stack(
    request: Request, tenant_id: str, ctx: RequestContext, stack_name: str, stack_id: str, live: bool = False
) -> Any:
    check_project(tenant_id, ctx)
    return _svc(request).get(ctx, stack_name, stack_id, live=live)


@router.get("/stacks/{stack_name}/{stack_id}")
def show_stack(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:show")),
) -> Response:
    st = _stack(request, tenant_id, ctx, stack_name, stack_id)
    resolve = bool_param("resolve_outputs", request.query_params.get("resolve_outputs"), True)
    outputs = None
    if resolve and not (st.action == "DELETE" and st.status == "COMPLETE"):
        outputs = _svc(request).run_of(st).outputs()
    return reply({"stack": stack_detail(request, st, outputs, _hidden(st))})


async def _update(
    request: Request, tenant_id: str, stack_name: str, stack_id: str, ctx: RequestContext, patch: bool
) -> Response:
    st = _stack(request, tenant_id, ctx, stack_name, stack_id)
    body = await json_body(request)
    template = template_of(body, required=not patch)
    files = files_of(body)
    docs = environments_of(body, files)
    args = args_of(body)
    svc = _svc(request)
    import anyio

    await anyio.to_thread.run_sync(
        lambda: svc.update(
            ctx, st, template, files, docs, parameters_of(body), patch or bool(args.get("existing")), args
        )
    )
    return reply(None, 202)


@router.put("/stacks/{stack_name}/{stack_id}")
async def update_stack(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:update")),
) -> Response:
    return await _update(request, tenant_id, stack_name, stack_id, ctx, patch=False)


@router.patch("/stacks/{stack_name}/{stack_id}")
async def update_stack_patch(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:update_patch")),
) -> Response:
    return await _update(request, tenant_id, stack_name, stack_id, ctx, patch=True)


@router.delete("/stacks/{stack_name}/{stack_id}")
def delete_stack(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:delete")),
) -> Response:
    st = _stack(request, tenant_id, ctx, stack_name, stack_id)
    _svc(request).delete(ctx, st)
    return reply(None, 204)


@router.delete("/stacks/{stack_name}/{stack_id}/abandon")
def abandon_stack(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:abandon")),
) -> Response:
    _stack(request, tenant_id, ctx, stack_name, stack_id, live=True)
    raise NotSupported("Stack Abandon")


@router.get("/stacks/{stack_name}/{stack_id}/template")
def stack_template(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:template")),
) -> Response:
    return reply(_stack(request, tenant_id, ctx, stack_name, stack_id).template)


@router.get("/stacks/{stack_name}/{stack_id}/environment")
def stack_environment(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:environment")),
) -> Response:
    return reply(_stack(request, tenant_id, ctx, stack_name, stack_id).environment)


@router.get("/stacks/{stack_name}/{stack_id}/files")
def stack_files(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:files")),
) -> Response:
    return reply(_stack(request, tenant_id, ctx, stack_name, stack_id).files)


@router.get("/stacks/{stack_name}/{stack_id}/outputs")
def list_outputs(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:list_outputs")),
) -> Response:
    st = _stack(request, tenant_id, ctx, stack_name, stack_id)
    outs = _svc(request).run_of(st).outputs()
    return reply({"outputs": [{"output_key": o["output_key"], "description": o["description"]} for o in outs]})


@router.get("/stacks/{stack_name}/{stack_id}/outputs/{output_key}")
def show_output(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    output_key: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:show_output")),
) -> Response:
    st = _stack(request, tenant_id, ctx, stack_name, stack_id)
    outs = {o["output_key"]: o for o in _svc(request).run_of(st).outputs()}
    if output_key not in outs:
        raise EntityNotFound("Output", output_key)
    return reply({"output": outs[output_key]})


__all__ = ["router", "resource_view", "quote"]


ACTIONS = ("suspend", "resume", "check", "cancel_update", "cancel_without_rollback")


@router.post("/stacks/{stack_name}/{stack_id}/actions")
async def stack_action(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:actions:action")),
) -> Response:
    st = _stack(request, tenant_id, ctx, stack_name, stack_id)
    body = await json_body(request)
    if len(body) < 1:
        raise HTTPBadRequest("No action specified")
    if len(body) > 1:
        raise HTTPBadRequest("Multiple actions specified")
    action = next(iter(body))
    if action not in ACTIONS:
        raise HTTPBadRequest(f"Invalid action {action} specified")
    import anyio

    svc = _svc(request)
    await anyio.to_thread.run_sync(lambda: svc.action(ctx, st, action))
    return reply(None, 200)
