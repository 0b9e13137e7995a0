"""Octavia's routes: one collection per object kind under ``/lbaas``, plus the load
balancer's status tree, stats and failover, quotas, providers and flavors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Body, Depends, Request, Response

from overcast.api.deps import authorize, get_runtime, runtime_of
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.errors import BadRequest
from overcast.loadbalancer.children import TopLevelEditor
from overcast.loadbalancer.errors import invalid, unsupported_action

if TYPE_CHECKING:
    from overcast.loadbalancer.service import LoadBalancerService

API_UPDATED = "2024-10-01T00:00:00Z"


def versions(request: Request) -> dict[str, Any]:
    base = runtime_of(request).config.api.base_url() + "/load-balancer"
    return {
        "versions": [
            {
                "id": "v2.0",
                "status": "SUPPORTED",
                "updated": "2016-12-11T00:00:00Z",
                "links": [{"href": f"{base}/v2.0", "rel": "self"}],
            },
            {"id": "v2", "status": "CURRENT", "updated": API_UPDATED, "links": [{"href": f"{base}/v2", "rel": "self"}]},
        ]
    }


# query keys that are not filters
PAGING = {
    "limit",
    "marker",
    "page_reverse",
    "sort",
    "sort_key",
    "sort_dir",
    "fields",
    "not-tags",
    "tags",
    "tags-any",
    "not-tags-any",
}


def listing(request: Request, collection: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Octavia's list body: filters on any attribute, ``tags``, ``sort``, ``limit``/``marker``
    with a ``next`` link, and ``fields``."""
    query = request.query_params
    for key in set(query.keys()) - PAGING:
        wanted = query.getlist(key)
        items = [i for i in items if key in i and _text(i[key]) in wanted]
    if query.get("tags"):
        need = set(query["tags"].split(","))
        items = [i for i in items if need <= set(i.get("tags") or [])]
    if query.get("tags-any"):
        anyof = set(query["tags-any"].split(","))
        items = [i for i in items if anyof & set(i.get("tags") or [])]
    sort = query.get("sort") or (f"{query['sort_key']}:{query.get('sort_dir', 'asc')}" if query.get("sort_key") else "")
    for part in reversed([p for p in sort.split(",") if p]):
        key, _, direction = part.partition(":")
        if items and key not in items[0]:
            raise invalid("sort", part, f"{key} is not a valid sort key")
        if direction not in ("", "asc", "desc"):
            raise invalid("sort", part, "Sort direction should be asc or desc")
        items = sorted(items, key=lambda i: (i[key] is not None, _text(i[key])), reverse=direction == "desc")
    links = []
    if query.get("marker"):
        ids = [i["id"] for i in items]
        if query["marker"] not in ids:
            raise BadRequest(f"Marker {query['marker']} could not be found.", code="InvalidSortKey")
        items = items[ids.index(query["marker"]) + 1 :]
    if query.get("limit"):
        try:
            limit = int(query["limit"])
        except ValueError:
            raise invalid("limit", query["limit"], "Value should be an integer") from None
        if limit < 0:
            raise invalid("limit", limit, "Value should be greater or equal to 0")
        if limit and len(items) > limit:
            items = items[:limit]
            params = {k: v for k, v in query.items() if k != "marker"}
            params["marker"] = items[-1]["id"]
            href = str(request.url.replace_query_params(**params))
            links.append({"href": href, "rel": "next"})
    fields = query.getlist("fields")
    if fields:
        keep = {f for part in fields for f in part.split(",")}
        items = [{k: v for k, v in i.items() if k in keep} for i in items]
    return {collection: items, f"{collection}_links": links}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _svc(runtime: Any) -> LoadBalancerService:
    service: LoadBalancerService = runtime.loadbalancer
    return service


Handler = Callable[..., Any]


def build() -> APIRouter:
    r = ResourceRouter()

    # --- load balancers -------------------------------------------------------------------

    @r.get("/lbaas/loadbalancers")
    def list_loadbalancers(
        request: Request,
        ctx: RequestContext = Depends(authorize("loadbalancer:loadbalancers:list")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return listing(request, "loadbalancers", _svc(runtime).objects.list(ctx, "loadbalancer"))

    @r.post("/lbaas/loadbalancers", status_code=201)
    def create_loadbalancer(
        body: Any = Body(None),
        ctx: RequestContext = Depends(authorize("loadbalancer:loadbalancers:create")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {"loadbalancer": _svc(runtime).loadbalancers.create(ctx, body)}

    @r.get("/lbaas/loadbalancers/{lb_id}")
    def show_loadbalancer(
        lb_id: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:loadbalancers:show")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {"loadbalancer": _svc(runtime).objects.get(ctx, "loadbalancer", lb_id)}

    @r.put("/lbaas/loadbalancers/{lb_id}")
    def update_loadbalancer(
        lb_id: str,
        body: Any = Body(None),
        ctx: RequestContext = Depends(authorize("loadbalancer:loadbalancers:update")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {"loadbalancer": _svc(runtime).loadbalancers.update(ctx, lb_id, body)}

    @r.delete("/lbaas/loadbalancers/{lb_id}", status_code=204)
    def delete_loadbalancer(
        lb_id: str,
        cascade: str = "false",
        ctx: RequestContext = Depends(authorize("loadbalancer:loadbalancers:delete")),
        runtime: Any = Depends(get_runtime),
    ) -> Response:
        if cascade.lower() not in ("true", "false", "1", "0"):
            raise invalid("cascade", cascade, "Value should be a boolean")
        _svc(runtime).loadbalancers.delete(ctx, lb_id, cascade=cascade.lower() in ("true", "1"))
        return Response(status_code=204)

    @r.get("/lbaas/loadbalancers/{lb_id}/status")
    def loadbalancer_status(
        lb_id: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:loadbalancers:show")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {"statuses": _svc(runtime).loadbalancers.status_tree(ctx, lb_id)}

    @r.get("/lbaas/loadbalancers/{lb_id}/stats")
    def loadbalancer_stats(
        lb_id: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:loadbalancers:show")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {"stats": _svc(runtime).loadbalancers.stats(ctx, lb_id)}

    @r.put("/lbaas/loadbalancers/{lb_id}/failover", status_code=202)
    def loadbalancer_failover(
        lb_id: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:loadbalancers:failover")),
        runtime: Any = Depends(get_runtime),
    ) -> Response:
        _svc(runtime).loadbalancers.failover(ctx, lb_id)
        return Response(status_code=202)

    # --- listeners, pools, health monitors, L7 policies (top-level collections) ------------

    editors: tuple[tuple[str, str, str, Callable[[LoadBalancerService], TopLevelEditor]], ...] = (
        ("listeners", "listeners", "listener", lambda svc: svc.listeners),
        ("pools", "pools", "pool", lambda svc: svc.pools),
        ("healthmonitors", "healthmonitors", "healthmonitor", lambda svc: svc.healthmonitors),
        ("l7policies", "l7policies", "l7policy", lambda svc: svc.l7policies),
    )
    for path, collection, kind, editor in editors:
        _top_level(r, path, collection, kind, editor)

    @r.get("/lbaas/listeners/{listener_id}/stats")
    def listener_stats(
        listener_id: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:listeners:show")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {"stats": _svc(runtime).loadbalancers.listener_stats(ctx, listener_id)}

    # --- members and L7 rules (sub-collections) --------------------------------------------

    @r.get("/lbaas/pools/{pool_id}/members")
    def list_members(
        pool_id: str,
        request: Request,
        ctx: RequestContext = Depends(authorize("loadbalancer:members:list")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return listing(request, "members", _svc(runtime).members.list(ctx, pool_id))

    @r.post("/lbaas/pools/{pool_id}/members", status_code=201)
    def create_member(
        pool_id: str,
        body: Any = Body(None),
        ctx: RequestContext = Depends(authorize("loadbalancer:members:create")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {"member": _svc(runtime).members.create(ctx, pool_id, body)}

    @r.put("/lbaas/pools/{pool_id}/members", status_code=202)
    def batch_members(
        pool_id: str,
        body: Any = Body(None),
        ctx: RequestContext = Depends(authorize("loadbalancer:members:update")),
        runtime: Any = Depends(get_runtime),
    ) -> Response:
        # as Octavia: the pool must exist and the body be a member list before the provider
        # is asked (and this one cannot do it)
        _svc(runtime).objects.get(ctx, "pool", pool_id)
        if not isinstance(body, dict) or not isinstance(body.get("members"), list):
            raise invalid("members", body, "Mandatory field missing.")
        raise unsupported_action(
            _svc(runtime).provider or "", "batch member update; create, update and delete members one by one."
        )

    @r.get("/lbaas/pools/{pool_id}/members/{member_id}")
    def show_member(
        pool_id: str,
        member_id: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:members:show")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {"member": _svc(runtime).members.get(ctx, pool_id, member_id)}

    @r.put("/lbaas/pools/{pool_id}/members/{member_id}")
    def update_member(
        pool_id: str,
        member_id: str,
        body: Any = Body(None),
        ctx: RequestContext = Depends(authorize("loadbalancer:members:update")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {"member": _svc(runtime).members.update(ctx, pool_id, member_id, body)}

    @r.delete("/lbaas/pools/{pool_id}/members/{member_id}", status_code=204)
    def delete_member(
        pool_id: str,
        member_id: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:members:delete")),
        runtime: Any = Depends(get_runtime),
    ) -> Response:
        _svc(runtime).members.delete(ctx, pool_id, member_id)
        return Response(status_code=204)

    @r.get("/lbaas/l7policies/{policy_id}/rules")
    def list_rules(
        policy_id: str,
        request: Request,
        ctx: RequestContext = Depends(authorize("loadbalancer:l7rules:list")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return listing(request, "rules", _svc(runtime).l7rules.list(ctx, policy_id))

    @r.post("/lbaas/l7policies/{policy_id}/rules", status_code=201)
    def create_rule(
        policy_id: str,
        body: Any = Body(None),
        ctx: RequestContext = Depends(authorize("loadbalancer:l7rules:create")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {"rule": _svc(runtime).l7rules.create(ctx, policy_id, body)}

    @r.get("/lbaas/l7policies/{policy_id}/rules/{rule_id}")
    def show_rule(
        policy_id: str,
        rule_id: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:l7rules:show")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {"rule": _svc(runtime).l7rules.get(ctx, policy_id, rule_id)}

    @r.put("/lbaas/l7policies/{policy_id}/rules/{rule_id}")
    def update_rule(
        policy_id: str,
        rule_id: str,
        body: Any = Body(None),
        ctx: RequestContext = Depends(authorize("loadbalancer:l7rules:update")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {"rule": _svc(runtime).l7rules.update(ctx, policy_id, rule_id, body)}

    @r.delete("/lbaas/l7policies/{policy_id}/rules/{rule_id}", status_code=204)
    def delete_rule(
        policy_id: str,
        rule_id: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:l7rules:delete")),
        runtime: Any = Depends(get_runtime),
    ) -> Response:
        _svc(runtime).l7rules.delete(ctx, policy_id, rule_id)
        return Response(status_code=204)

    # --- quotas --------------------------------------------------------------------------

    @r.get("/lbaas/quotas")
    def list_quotas(
        request: Request,
        ctx: RequestContext = Depends(authorize("loadbalancer:quotas:list")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        projects = None if ctx.is_admin else [ctx.project_id or ""]
        return listing(request, "quotas", _svc(runtime).quotas.list(projects))

    @r.get("/lbaas/quotas/defaults")
    def default_quotas(
        ctx: RequestContext = Depends(authorize("loadbalancer:quotas:show")), runtime: Any = Depends(get_runtime)
    ) -> dict[str, Any]:
        quotas = _svc(runtime).quotas
        return {"quota": quotas.view(quotas.defaults())}

    @r.get("/lbaas/quotas/{project_id}")
    def show_quota(
        project_id: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:quotas:show")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        _own_project(ctx, project_id)
        return {"quota": _svc(runtime).quotas.show(project_id)}

    @r.get("/lbaas/quotas/{project_id}/default")
    def show_quota_default(
        project_id: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:quotas:show")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        _own_project(ctx, project_id)
        quotas = _svc(runtime).quotas
        return {"quota": quotas.view(quotas.defaults())}

    @r.put("/lbaas/quotas/{project_id}", status_code=202)
    def update_quota(
        project_id: str,
        body: Any = Body(None),
        ctx: RequestContext = Depends(authorize("loadbalancer:quotas:update")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) != {"quota"}:
            raise invalid("quota", body, 'Missing argument: "quota"')
        return {"quota": _svc(runtime).quotas.update(project_id, body["quota"])}

    @r.delete("/lbaas/quotas/{project_id}", status_code=202)
    def reset_quota(
        project_id: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:quotas:delete")),
        runtime: Any = Depends(get_runtime),
    ) -> Response:
        _svc(runtime).quotas.reset(project_id)
        return Response(status_code=202)

    # --- providers and flavors -----------------------------------------------------------

    @r.get("/lbaas/providers")
    def list_providers(
        request: Request,
        ctx: RequestContext = Depends(authorize("loadbalancer:providers:list")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return listing(request, "providers", _svc(runtime).providers())

    @r.get("/lbaas/providers/{provider}/flavor_capabilities")
    def flavor_capabilities(
        provider: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:providers:show")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        _known_provider(runtime, provider)
        return {"flavor_capabilities": []}

    @r.get("/lbaas/providers/{provider}/availability_zone_capabilities")
    def az_capabilities(
        provider: str,
        ctx: RequestContext = Depends(authorize("loadbalancer:providers:show")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        _known_provider(runtime, provider)
        return {"availability_zone_capabilities": []}

    for path, collection in (
        ("flavors", "flavors"),
        ("flavorprofiles", "flavorprofiles"),
        ("availabilityzones", "availability_zones"),
        ("availabilityzoneprofiles", "availability_zone_profiles"),
    ):
        _flavor_like(r, path, collection)
    return r


def _own_project(ctx: RequestContext, project_id: str) -> None:
    if not ctx.is_admin and project_id != ctx.project_id:
        from overcast.errors import Forbidden

        raise Forbidden("Policy does not allow this request to be performed.", code="PolicyForbidden")


def _known_provider(runtime: Any, provider: str) -> None:
    if provider != runtime.loadbalancer.provider:
        raise BadRequest(f"Provider '{provider}' is not enabled.", code="ProviderNotEnabled")


def _top_level(
    r: APIRouter, path: str, collection: str, kind: str, editor: Callable[[LoadBalancerService], TopLevelEditor]
) -> None:
    """A top-level collection: ``kind`` is both the object's kind and its body's key."""
    member = kind
    base = f"/lbaas/{path}"
    rule = f"loadbalancer:{collection}"

    @r.get(base, name=f"list_{collection}")
    def list_items(
        request: Request, ctx: RequestContext = Depends(authorize(f"{rule}:list")), runtime: Any = Depends(get_runtime)
    ) -> dict[str, Any]:
        return listing(request, collection, _svc(runtime).objects.list(ctx, kind))

    @r.post(base, status_code=201, name=f"create_{member}")
    def create_item(
        body: Any = Body(None),
        ctx: RequestContext = Depends(authorize(f"{rule}:create")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {member: editor(_svc(runtime)).create(ctx, body)}

    @r.get(base + "/{item_id}", name=f"show_{member}")
    def show_item(
        item_id: str, ctx: RequestContext = Depends(authorize(f"{rule}:show")), runtime: Any = Depends(get_runtime)
    ) -> dict[str, Any]:
        return {member: _svc(runtime).objects.get(ctx, kind, item_id)}

    @r.put(base + "/{item_id}", name=f"update_{member}")
    def update_item(
        item_id: str,
        body: Any = Body(None),
        ctx: RequestContext = Depends(authorize(f"{rule}:update")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        return {member: editor(_svc(runtime)).update(ctx, item_id, body)}

    @r.delete(base + "/{item_id}", status_code=204, name=f"delete_{member}")
    def delete_item(
        item_id: str, ctx: RequestContext = Depends(authorize(f"{rule}:delete")), runtime: Any = Depends(get_runtime)
    ) -> Response:
        _svc(runtime).objects.delete(ctx, kind, item_id)
        return Response(status_code=204)


def _flavor_like(r: APIRouter, path: str, collection: str) -> None:
    """Flavors, flavor profiles, availability zones and their profiles: this provider has no
    flavor or zone capabilities, so there are none, and making one (admin only) is refused."""
    base = f"/lbaas/{path}"
    rule = f"loadbalancer:{path}"
    label = {
        "flavors": "Flavor",
        "flavorprofiles": "Flavor profile",
        "availabilityzones": "Availability Zone",
        "availabilityzoneprofiles": "Availability Zone Profile",
    }[path]

    @r.get(base, name=f"list_{collection}")
    def list_items(
        request: Request, ctx: RequestContext = Depends(authorize(f"{rule}:list")), runtime: Any = Depends(get_runtime)
    ) -> dict[str, Any]:
        return listing(request, collection, [])

    @r.get(base + "/{item_id}", name=f"show_{path}")
    def show_item(
        item_id: str, ctx: RequestContext = Depends(authorize(f"{rule}:show")), runtime: Any = Depends(get_runtime)
    ) -> dict[str, Any]:
        from overcast.errors import NotFound

        raise NotFound(f"{label} {item_id} not found.", code="NotFound")

    @r.post(base, status_code=201, name=f"create_{path}")
    def create_item(
        body: Any = Body(None),
        ctx: RequestContext = Depends(authorize(f"{rule}:create")),
        runtime: Any = Depends(get_runtime),
    ) -> dict[str, Any]:
        raise unsupported_action(
            _svc(runtime).provider or "",
            f"{collection}: this provider has no flavor or availability-zone capabilities.",
        )
