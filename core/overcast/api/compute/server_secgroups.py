"""``GET /servers/{id}/os-security-groups`` (Nova; issue 18): the security groups on the
server's ports, with their ingress rules in Nova's form."""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from overcast.api.compute.common import reply
from overcast.api.compute.microversion import MicroversionRoute
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute.network_proxy import group_view
from overcast.compute.secgroups import server_groups
from overcast.context import RequestContext

router = ResourceRouter(route_class=MicroversionRoute)


@router.get("/v2.1/servers/{server_id}/os-security-groups")
def server_security_groups(
    server_id: str,
    ctx: RequestContext = Depends(authorize("compute:servers:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    groups = server_groups(runtime, ctx, runtime.compute, server_id)
    names = {g["id"]: g["name"] for g in groups}
    return reply({"security_groups": [group_view(g, names) for g in groups]})
