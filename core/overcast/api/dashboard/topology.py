"""Lays out the network topology picture: networks as horizontal bars, routers and servers
as boxes joined to the networks their ports are on. Pure geometry, rendered as SVG by the
``topology.html`` template (so every label is autoescaped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NET_HEIGHT, NET_GAP, TOP, LEFT = 22, 90, 40, 180
BOX_W, BOX_H, BOX_GAP = 130, 36, 30
LABEL_CHARS = 18  # what fits in a box; the full name is the element's tooltip


def short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


@dataclass
class Picture:
    width: int
    height: int
    networks: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)


def layout(networks: list[dict], routers: list[dict], servers: list[dict], ports: list[dict]) -> Picture:
    """``networks`` etc. are the API's JSON objects; ports say which device is on which network."""
    net_y = {n["id"]: TOP + i * NET_GAP for i, n in enumerate(networks)}
    nodes: list[dict[str, Any]] = []
    for kind, items in (("router", routers), ("server", servers)):
        for item in items:
            name = item.get("name") or item["id"][:8]
            nodes.append(
                {"id": item["id"], "kind": kind, "label": name, "short": short(name), "status": item.get("status", "")}
            )
    for i, box in enumerate(nodes):
        box["x"] = LEFT + i * (BOX_W + BOX_GAP)
        box["y"] = TOP + len(networks) * NET_GAP
    by_id = {n["id"]: n for n in nodes}
    links = []
    for port in ports:
        node = by_id.get(port.get("device_id", ""))
        y = net_y.get(port.get("network_id", ""))
        if node is None or y is None:
            continue
        ips = ", ".join(ip["ip_address"] for ip in port.get("fixed_ips", []))
        links.append({"x": node["x"] + BOX_W / 2, "y1": y + NET_HEIGHT, "y2": node["y"], "label": ips})
    for router in routers:
        gateway = (router.get("external_gateway_info") or {}).get("network_id")
        if gateway in net_y and router["id"] in by_id:
            node = by_id[router["id"]]
            if not any(
                link["x"] == node["x"] + BOX_W / 2 and link["y1"] == net_y[gateway] + NET_HEIGHT for link in links
            ):
                links.append(
                    {"x": node["x"] + BOX_W / 2, "y1": net_y[gateway] + NET_HEIGHT, "y2": node["y"], "label": "gateway"}
                )
    width = max(LEFT + len(nodes) * (BOX_W + BOX_GAP), 600)
    nets = [
        {
            "id": n["id"],
            "label": n.get("name") or n["id"][:8],
            "y": net_y[n["id"]],
            "width": width - LEFT,
            "external": bool(n.get("router:external")),
        }
        for n in networks
    ]
    return Picture(
        width=width + 40, height=TOP + len(networks) * NET_GAP + BOX_H + 60, networks=nets, nodes=nodes, links=links
    )
