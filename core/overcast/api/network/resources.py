"""The CRUD routes every Neutron resource shares: list, create, show, update, delete."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.network.listing import list_response, show_response
from overcast.context import RequestContext
from overcast.validation import check_body_text

PUBLISHER_HOST = socket.gethostname()


@dataclass(frozen=True)
class Resource:
    path: str  # URL segment: "security-groups"
    collection: str  # body key of lists: "security_groups"
    member: str  # body key of one: "security_group"
    rule: str  # policy resource name: "security_groups"
    manager: Callable[[Any], Any]  # runtime.network -> the manager
    create: str = "create"
    list: str = "list"
    get: str = "get"
    update: str = "update"
    delete: str = "delete"
    bulk: bool = True  # POST {"<collection>": [...]} creates several at once, all or none


RESOURCES = (
    Resource("networks", "networks", "network", "networks", lambda s: s.networks),
    Resource("subnets", "subnets", "subnet", "subnets", lambda s: s.subnets),
    Resource("subnetpools", "subnetpools", "subnetpool", "subnetpools", lambda s: s.subnet_pools),
    Resource("ports", "ports", "port", "ports", lambda s: s.ports),
    Resource("security-groups", "security_groups", "security_group", "security_groups", lambda s: s.security_groups),
    Resource(
        "security-group-rules",
        "security_group_rules",
        "security_group_rule",
        "security_group_rules",
        lambda s: s.security_groups,
        create="create_rule",
        list="list_rules",
        get="get_rule",
        update="",
        delete="delete_rule",
    ),
    Resource("routers", "routers", "router", "routers", lambda s: s.routers, bulk=False),
    Resource("floatingips", "floatingips", "floatingip", "floatingips", lambda s: s.floating_ips, bulk=False),
)


def create_bulk(manager: Any, res: Resource, ctx: RequestContext, items: Any) -> list[dict[str, Any]]:
    """Neutron's bulk create: each item as a single create would make it; if one fails, the
    ones made before it are deleted again and that failure is the answer."""
    from overcast.errors import BadRequest

    if not isinstance(items, list) or not items:
        raise BadRequest(f"Resource body required: expected a non-empty list under '{res.collection}'.")
    made: list[dict[str, Any]] = []
    try:
        for item in items:
            made.append(getattr(manager, res.create)(ctx, {res.member: item}))
    except Exception:
        for done in reversed(made):
            getattr(manager, res.delete)(ctx, done["id"])
        raise
    return made


def add_resource_routes(router: APIRouter, res: Resource) -> None:
    base = f"/v2.0/{res.path}"

    def manager(runtime: Any) -> Any:
        return res.manager(runtime.network)

    @router.get(base, name=f"list_{res.collection}")
    def list_items(
        request: Request,
        ctx: RequestContext = Depends(authorize(f"network:{res.rule}:list")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return list_response(res.collection, getattr(manager(runtime), res.list)(ctx), request)

    @router.post(base, status_code=201, name=f"create_{res.member}")
    def create_item(
        body: Any = Body(None),
        ctx: RequestContext = Depends(authorize(f"network:{res.rule}:create")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        check_body_text(body)
        if res.bulk and isinstance(body, dict) and set(body) == {res.collection}:
            made = create_bulk(manager(runtime), res, ctx, body[res.collection])
            for item in made:
                _notify(runtime, ctx, f"{res.member}.create.end", {res.member: item})
            return {res.collection: made}
        item = getattr(manager(runtime), res.create)(ctx, body)
        _notify(runtime, ctx, f"{res.member}.create.end", {res.member: item})
        return {res.member: item}

    @router.get(base + "/{item_id}", name=f"show_{res.member}")
    def show_item(
        item_id: str,
        request: Request,
        ctx: RequestContext = Depends(authorize(f"network:{res.rule}:show")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return show_response(res.member, getattr(manager(runtime), res.get)(ctx, item_id), request)

    if res.update:

        @router.put(base + "/{item_id}", name=f"update_{res.member}")
        def update_item(
            item_id: str,
            body: Any = Body(None),
            ctx: RequestContext = Depends(authorize(f"network:{res.rule}:update")),
            runtime: Any = Depends(get_runtime),
        ) -> dict[str, Any]:
            check_body_text(body)
            item = getattr(manager(runtime), res.update)(ctx, item_id, body)
            _notify(runtime, ctx, f"{res.member}.update.end", {res.member: item})
            return {res.member: item}

    @router.delete(base + "/{item_id}", status_code=204, name=f"delete_{res.member}")
    def delete_item(
        item_id: str,
        ctx: RequestContext = Depends(authorize(f"network:{res.rule}:delete")),
        runtime: Any = Depends(get_runtime),
    ) -> Response:
        getattr(manager(runtime), res.delete)(ctx, item_id)
        _notify(runtime, ctx, f"{res.member}.delete.end", {f"{res.member}_id": item_id})
        return Response(status_code=204)


def _notify(runtime: Any, ctx: RequestContext, event_type: str, payload: dict[str, Any]) -> None:
    """Neutron's notification for a change made through the API: the response body as payload."""
    runtime.notifier.notify(f"network.{PUBLISHER_HOST}", event_type, payload, ctx=ctx)
