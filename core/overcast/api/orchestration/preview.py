"""Preview of a stack update (``PUT``/``PATCH .../preview``, ``openstack stack update
--dry-run``): what each resource would undergo, in the engine's resource format."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize
from overcast.api.orchestration.common import json_body, reply
from overcast.api.orchestration.instantiation import args_of, environments_of, files_of, parameters_of, template_of
from overcast.api.orchestration.stacks import _stack, _svc
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.orchestration.template.hot import Template

router = ResourceRouter()


async def _preview_update(
    request: Request, tenant_id: str, stack_name: str, stack_id: str, ctx: RequestContext, patch: bool
) -> Response:
    st = _stack(request, tenant_id, ctx, stack_name, stack_id)
    body = await json_body(request)
    template = template_of(body, required=not patch)
    files = files_of(body)
    docs = environments_of(body, files)
    args = args_of(body)
    svc = _svc(request)
    plan = await anyio.to_thread.run_sync(
        lambda: svc.update(
            ctx, st, template, files, docs, parameters_of(body), patch or bool(args.get("existing")), args, preview=True
        )
    )
    rows = {r.name: r for r in svc.store.resources(st.id, current_only=True)}
    tmpl = Template(template or st.template, {**(st.files or {}), **files})

    def entry(name: str) -> dict[str, Any]:
        row = rows.get(name)
        defn = tmpl.resources.get(name)
        identity = {"stack_name": st.name, "stack_id": st.id, "tenant": st.project_id, "path": f"/resources/{name}"}
        return {
            "resource_name": name,
            "resource_type": defn.type if defn else (row.type if row else ""),
            "resource_action": row.action if row else "INIT",
            "resource_status": row.status if row else "COMPLETE",
            "resource_status_reason": row.status_reason if row else "",
            "physical_resource_id": (row.physical_id or "") if row else "",
            "resource_identity": identity,
            "stack_identity": {**identity, "path": ""},
            "stack_name": st.name,
            "description": defn.description if defn else "",
            "required_by": [],
        }

    assert plan is not None
    return reply({"resource_changes": {kind: [entry(n) for n in names] for kind, names in plan.items()}})


@router.put("/stacks/{stack_name}/{stack_id}/preview")
async def preview_update(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:preview_update")),
) -> Response:
    return await _preview_update(request, tenant_id, stack_name, stack_id, ctx, patch=False)


@router.patch("/stacks/{stack_name}/{stack_id}/preview")
async def preview_update_patch(
    request: Request,
    tenant_id: str,
    stack_name: str,
    stack_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:preview_update_patch")),
) -> Response:
    return await _preview_update(request, tenant_id, stack_name, stack_id, ctx, patch=True)
