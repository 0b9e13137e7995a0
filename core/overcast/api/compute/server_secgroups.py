"""``GET /servers/{id}/os-security-groups`` (Nova; issue 18): the security groups on the
server's ports, with their ingress rules in Nova's form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from overcast.api.compute.common import reply
from overcast.api.compute.microversion import MicroversionRoute
from overcast.api.deps import authorize, get_runtime
from overcast.compute.secgroups import server_groups
from overcast.context import RequestContext

router = APIRouter(route_class=MicroversionRoute)


def _rule(group_id: str, rule: dict[str, Any]) -> dict[str, Any]:
    cidr = rule.get("remote_ip_prefix")
    return {
        "id": rule["id"],
        "parent_group_id": group_id,
        "ip_protocol": rule.get("protocol"),
        "from_port": rule.get("port_range_min"),
        "to_port": rule.get("port_range_max"),
        "ip_range": {"cidr": cidr} if cidr else {},
        "group": {"tenant_id": rule.get("project_id")} if rule.get("remote_group_id") else {},
    }


@router.get("/v2.1/servers/{server_id}/os-security-groups")
def server_security_groups(
    server_id: str,
    ctx: RequestContext = Depends(authorize("compute:servers:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    groups = server_groups(runtime, ctx, runtime.compute, server_id)
    return reply(
        {
            "security_groups": [
                {
                    "id": g["id"],
                    "name": g["name"],
                    "description": g.get("description", ""),
                    "tenant_id": g.get("project_id"),
                    "rules": [
                        _rule(g["id"], r) for r in g.get("security_group_rules", []) if r.get("direction") == "ingress"
                    ],
                }
                for g in groups
            ]
        }
    )
