"""``GET /os-hypervisors/{id}/uptime`` (before 2.88; issue 18). No hypervisor driver reports
its host's uptime, so the answer is Nova's own for such a driver: 501, which clients
(``openstack hypervisor show``) expect and skip; an unknown id is a 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from overcast.api.compute.admin import find_hypervisor
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.context import RequestContext
from overcast.errors import NotFound, OvercastError

router = APIRouter(route_class=MicroversionRoute)


class HostUptimeNotImplemented(OvercastError):
    status = 501
    title = "Not Implemented"


@router.get("/v2.1/os-hypervisors/{hypervisor_id}/uptime")
def hypervisor_uptime(
    hypervisor_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:hypervisors:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    if find_hypervisor(runtime, hypervisor_id, version_of(request)) is None:
        raise NotFound(f"Hypervisor with ID {hypervisor_id} could not be found.")
    raise HostUptimeNotImplemented("Virt driver does not implement host uptime function.")
