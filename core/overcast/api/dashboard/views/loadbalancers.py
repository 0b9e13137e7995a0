"""Load balancers: create one with its listener, pool, members and health monitor, and
watch each member's health (the tree refreshes itself every few seconds)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.api.dashboard.pages import api, back, check_csrf, render, session_of
from overcast.api.dashboard.routing import DashboardRoute
from overcast.api.dashboard.views.auth import user_projects
from overcast.errors import BadRequest

router = APIRouter(route_class=DashboardRoute)

LB = "/load-balancer/v2/lbaas"


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{what} must be a whole number.") from None


@router.get("/loadbalancers")
async def loadbalancers(request: Request) -> Response:
    session = session_of(request)
    async with api(request, session) as client:
        lbs = (await client.get(f"{LB}/loadbalancers"))["loadbalancers"]
        trees = {lb["id"]: (await client.get(f"{LB}/loadbalancers/{lb['id']}/status"))["statuses"] for lb in lbs}
        listeners = (await client.get(f"{LB}/listeners"))["listeners"]
        pools = (await client.get(f"{LB}/pools"))["pools"]
        subnets = (await client.get("/networking/v2.0/subnets"))["subnets"]
    template = "loadbalancer_trees.html" if request.headers.get("hx-request") else "loadbalancers.html"
    return render(
        request,
        template,
        session,
        loadbalancers=lbs,
        trees=trees,
        listeners=listeners,
        pools=pools,
        subnets=subnets,
        projects=await user_projects(request, session),
    )


@router.post("/loadbalancers")
async def loadbalancer_action(request: Request) -> Response:
    session = session_of(request)
    form = await check_csrf(request, session)
    action = form.get("action", "")
    name = form.get("name", "").strip()
    async with api(request, session) as client:
        if action == "create":
            body: dict[str, Any] = {"name": name, "vip_subnet_id": form.get("subnet_id", "")}
            await client.post(f"{LB}/loadbalancers", json={"loadbalancer": body})
            return back("/loadbalancers", message=f"Load balancer {name} is being created.")
        if action == "listener":
            body = {
                "name": name,
                "loadbalancer_id": form.get("loadbalancer_id", ""),
                "protocol": form.get("protocol", "HTTP"),
                "protocol_port": _int(form.get("protocol_port", ""), "Port"),
            }
            await client.post(f"{LB}/listeners", json={"listener": body})
            return back("/loadbalancers", message=f"Listener {name} is being created.")
        if action == "pool":
            body = {
                "name": name,
                "listener_id": form.get("listener_id", ""),
                "protocol": form.get("protocol", "HTTP"),
                "lb_algorithm": form.get("lb_algorithm", "ROUND_ROBIN"),
            }
            await client.post(f"{LB}/pools", json={"pool": body})
            return back("/loadbalancers", message=f"Pool {name} is being created.")
        if action == "member":
            body = {
                "name": name,
                "address": form.get("address", "").strip(),
                "protocol_port": _int(form.get("protocol_port", ""), "Port"),
            }
            await client.post(f"{LB}/pools/{form.get('pool_id', '')}/members", json={"member": body})
            return back("/loadbalancers", message=f"Member {body['address']} is being added.")
        if action == "monitor":
            body = {
                "name": name,
                "pool_id": form.get("pool_id", ""),
                "type": form.get("type", "HTTP"),
                "delay": _int(form.get("delay", ""), "Delay"),
                "timeout": _int(form.get("timeout", ""), "Timeout"),
                "max_retries": _int(form.get("max_retries", ""), "Retries"),
            }
            if body["type"] in ("HTTP", "HTTPS") and form.get("url_path"):
                body["url_path"] = form["url_path"]
            await client.post(f"{LB}/healthmonitors", json={"healthmonitor": body})
            return back("/loadbalancers", message="Health monitor is being created.")
        if action == "delete":
            await client.delete(
                f"{LB}/loadbalancers/{form.get('loadbalancer_id', '')}", params={"cascade": "true"}, expect_json=False
            )
            return back("/loadbalancers", message="Load balancer is being deleted.")
    raise BadRequest(f"Unknown action {action!r}.")
