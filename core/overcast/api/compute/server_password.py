"""``GET`` and ``DELETE /servers/{id}/os-server-password`` (Nova; issue 16): the password the
guest posted to the metadata service, for its owner to read and clear."""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from overcast.api.compute.common import reply
from overcast.api.compute.microversion import MicroversionRoute
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute import server_password
from overcast.context import RequestContext

router = ResourceRouter(route_class=MicroversionRoute)


@router.get("/v2.1/servers/{server_id}/os-server-password")
def show_password(
    server_id: str,
    ctx: RequestContext = Depends(authorize("compute:server_password:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"password": server_password.show(runtime.db, ctx, server_id)})


@router.delete("/v2.1/servers/{server_id}/os-server-password")
def clear_password(
    server_id: str,
    ctx: RequestContext = Depends(authorize("compute:server_password:clear")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    server_password.clear(runtime.db, ctx, server_id)
    return reply(None, 204)
