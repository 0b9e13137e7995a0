"""Heat v1 views of stacks, resources and events (``heat/api/openstack/v1/views`` and
``heat/engine/api.py`` shapes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request

from overcast.api.orchestration.common import isotime, link, stack_url
from overcast.db.models.orchestration import Stack, StackEvent, StackResource
from overcast.orchestration.template.parameters import PSEUDO  # noqa: F401


def stack_summary(request: Request, st: Stack, include_project: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": st.id,
        "links": [link(stack_url(request, st.project_id, st.name, st.id))],
        "stack_name": st.name,
        "description": (st.template or {}).get("description", "") or "",
        "stack_status": f"{st.action}_{st.status}",
        "stack_status_reason": st.status_reason,
        "creation_time": isotime(st.created_at),
        "updated_time": isotime(st.updated_at),
        "deletion_time": isotime(st.deleted_at),
        "stack_owner": st.username,
        "parent": st.owner_id,
        "stack_user_project_id": st.project_id,
        "tags": list(st.tags) if st.tags else None,
    }
    if include_project:
        out["project"] = st.project_id
    return out


def parameters(st: Stack, hidden: Sequence[str]) -> dict[str, str]:
    out = {
        "OS::stack_id": st.id,
        "OS::stack_name": st.name,
        "OS::project_id": st.project_id,
    }
    for key, value in (st.parameters or {}).items():
        if key in hidden:
            out[key] = "******"
        elif isinstance(value, (dict, list)):
            import json

            out[key] = json.dumps(value) if isinstance(value, dict) else ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            out[key] = str(value)
        else:
            out[key] = str(value)
    return out


def stack_detail(
    request: Request, st: Stack, outputs: list[dict[str, Any]] | None, hidden: Sequence[str]
) -> dict[str, Any]:
    out = stack_summary(request, st)
    description = (st.template or {}).get("description", "") or ""
    out.update(
        {
            "template_description": description,
            "parameters": parameters(st, hidden),
            "timeout_mins": st.timeout_mins,
            "disable_rollback": st.disable_rollback,
            "capabilities": [],
            "notification_topics": [],
        }
    )
    if outputs is not None:
        out["outputs"] = outputs
    return out


def resource_view(
    request: Request,
    st: Stack,
    row: StackResource,
    required_by: list[str],
    detail: bool = False,
    attributes: Mapping[str, Any] | None = None,
    description: str = "",
) -> dict[str, Any]:
    surl = stack_url(request, st.project_id, st.name, st.id)
    links = [link(f"{surl}/resources/{row.name}"), link(surl, "stack")]
    if row.nested_stack_id:
        links.append(link(f"{stack_url(request, st.project_id, st.name, row.nested_stack_id)}", "nested"))
    out: dict[str, Any] = {
        "resource_name": row.name,
        "logical_resource_id": row.name,
        "links": links,
        "physical_resource_id": row.physical_id or "",
        "resource_status": f"{row.action}_{row.status}",
        "resource_status_reason": row.status_reason,
        "resource_type": row.type,
        "creation_time": isotime(row.created_at),
        "updated_time": isotime(row.updated_at or row.created_at),
        "required_by": required_by,
    }
    if detail:
        out["description"] = description
        out["attributes"] = dict(attributes or {})
    return out


def event_view(request: Request, st: Stack, ev: StackEvent, detail: bool = False) -> dict[str, Any]:
    surl = stack_url(request, st.project_id, st.name, st.id)
    out: dict[str, Any] = {
        "id": ev.id,
        "links": [
            link(f"{surl}/resources/{ev.resource_name}/events/{ev.id}"),
            link(f"{surl}/resources/{ev.resource_name}", "resource"),
            link(surl, "stack"),
        ],
        "event_time": isotime(ev.created_at),
        "resource_name": ev.resource_name,
        "logical_resource_id": ev.resource_name,
        "resource_status": f"{ev.action}_{ev.status}",
        "resource_status_reason": ev.reason,
        "physical_resource_id": ev.physical_id,
    }
    if detail:
        out["resource_type"] = ev.type
        out["resource_properties"] = ev.properties or {}
    return out
