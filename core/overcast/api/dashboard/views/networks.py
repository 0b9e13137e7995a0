"""Networks, subnets, routers, floating IPs, security groups, and the topology picture."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.api.dashboard.client import ApiError
from overcast.api.dashboard.pages import api, back, check_csrf, render, session_of
from overcast.api.dashboard.routing import DashboardRoute
from overcast.api.dashboard.topology import layout
from overcast.api.dashboard.views.auth import user_projects
from overcast.errors import BadRequest

router = APIRouter(route_class=DashboardRoute)
NEUTRON = "/networking/v2.0"


@router.get("/networks")
async def networks(request: Request) -> Response:
    session = session_of(request)
    async with api(request, session) as client:
        data = {
            key: (await client.get(f"{NEUTRON}/{path}"))[key]
            for key, path in (
                ("networks", "networks"),
                ("subnets", "subnets"),
                ("routers", "routers"),
                ("floatingips", "floatingips"),
                ("security_groups", "security-groups"),
                ("ports", "ports"),
            )
        }
    external = [n for n in data["networks"] if n.get("router:external")]
    return render(
        request, "networks.html", session, external=external, projects=await user_projects(request, session), **data
    )


def _rule(form: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "security_group_id": form.get("security_group_id", ""),
        "direction": form.get("direction", "ingress"),
        "ethertype": "IPv4",
    }
    if form.get("protocol"):
        rule["protocol"] = form["protocol"]
    if form.get("port"):
        try:
            rule["port_range_min"] = rule["port_range_max"] = int(form["port"])
        except ValueError:
            raise BadRequest("The port must be a number.") from None
    if form.get("remote_ip_prefix"):
        rule["remote_ip_prefix"] = form["remote_ip_prefix"]
    return rule


@router.post("/networks")
async def network_action(request: Request) -> Response:
    session = session_of(request)
    form = await check_csrf(request, session)
    action = form.get("action", "")
    async with api(request, session) as client:
        if action == "create-network":
            net = await client.post(f"{NEUTRON}/networks", json={"network": {"name": form.get("name", "").strip()}})
            if form.get("cidr"):
                await client.post(
                    f"{NEUTRON}/subnets",
                    json={
                        "subnet": {
                            "network_id": net["network"]["id"],
                            "name": form.get("subnet_name") or f"{form.get('name', '')}-subnet",
                            "cidr": form["cidr"].strip(),
                            "ip_version": 4,
                        }
                    },
                )
            return back("/networks", message="Network created.")
        if action == "create-subnet":
            await client.post(
                f"{NEUTRON}/subnets",
                json={
                    "subnet": {
                        "network_id": form.get("network_id", ""),
                        "name": form.get("name", ""),
                        "cidr": form.get("cidr", "").strip(),
                        "ip_version": 4,
                    }
                },
            )
            return back("/networks", message="Subnet created.")
        if action == "create-router":
            body: dict[str, Any] = {"name": form.get("name", "").strip()}
            if form.get("external_network_id"):
                body["external_gateway_info"] = {"network_id": form["external_network_id"]}
            await client.post(f"{NEUTRON}/routers", json={"router": body})
            return back("/networks", message="Router created.")
        if action == "add-interface":
            await client.put(
                f"{NEUTRON}/routers/{form.get('router_id', '')}/add_router_interface",
                json={"subnet_id": form.get("subnet_id", "")},
            )
            return back("/networks", message="Interface added.")
        if action == "create-floatingip":
            await client.post(
                f"{NEUTRON}/floatingips", json={"floatingip": {"floating_network_id": form.get("network_id", "")}}
            )
            return back("/networks", message="Floating IP allocated.")
        if action == "associate-floatingip":
            await client.put(
                f"{NEUTRON}/floatingips/{form.get('floatingip_id', '')}",
                json={"floatingip": {"port_id": form.get("port_id") or None}},
            )
            return back("/networks", message="Floating IP updated.")
        if action == "create-security-group":
            await client.post(
                f"{NEUTRON}/security-groups", json={"security_group": {"name": form.get("name", "").strip()}}
            )
            return back("/networks", message="Security group created.")
        if action == "create-rule":
            await client.post(f"{NEUTRON}/security-group-rules", json={"security_group_rule": _rule(form)})
            return back("/networks", message="Rule added.")
        deletable = {
            "delete-network": "networks",
            "delete-router": "routers",
            "delete-floatingip": "floatingips",
            "delete-security-group": "security-groups",
            "delete-subnet": "subnets",
        }
        if action in deletable:
            await client.delete(f"{NEUTRON}/{deletable[action]}/{form.get('id', '')}", expect_json=False)
            return back("/networks", message="Deleted.")
    raise BadRequest(f"Unknown action {action!r}.")


@router.get("/topology")
async def topology(request: Request) -> Response:
    session = session_of(request)
    async with api(request, session) as client:
        nets = (await client.get(f"{NEUTRON}/networks"))["networks"]
        routers_ = (await client.get(f"{NEUTRON}/routers"))["routers"]
        ports = (await client.get(f"{NEUTRON}/ports"))["ports"]
        try:
            servers = (await client.get("/compute/v2.1/servers/detail"))["servers"]
        except ApiError:
            servers = []
    picture = layout(nets, routers_, servers, ports)
    return render(request, "topology.html", session, picture=picture, projects=await user_projects(request, session))
