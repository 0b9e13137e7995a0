"""``GET /os-hypervisors/{id}/uptime`` (before 2.88; issue 18), and the hypervisor search and
servers by hostname pattern (before 2.53; issue 16). The uptime is the host's as its driver
reads it (``hv_get_host_uptime``, issue 16); for a driver that cannot, the answer is Nova's
own: 501, which clients (``openstack hypervisor show``) expect and skip; an unknown id is a
404, a host whose agent does not answer Nova's 400."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from overcast.api.compute.admin import find_hypervisor
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.errors import NotFound, OvercastError

router = ResourceRouter(route_class=MicroversionRoute)


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
    from overcast.api.compute.admin import _hypervisor
    from overcast.api.compute.common import reply
    from overcast.compute.records import configured_host
    from overcast.errors import BadRequest, UnsupportedOperation

    version = version_of(request)
    found = find_hypervisor(runtime, hypervisor_id, version)
    if found is None:
        raise NotFound(f"Hypervisor with ID {hypervisor_id} could not be found.")
    rec, svc = found
    try:
        if not runtime.agents.compute(rec.name).supports(operation="get_host_uptime"):
            raise HostUptimeNotImplemented("Virt driver does not implement host uptime function.")
        uptime = runtime.agents.hypervisor().get_host_uptime(host=configured_host(runtime, rec.name))
    except UnsupportedOperation:
        raise HostUptimeNotImplemented("Virt driver does not implement host uptime function.") from None
    except HostUptimeNotImplemented:
        raise
    except OvercastError:
        raise BadRequest(f"Compute service of {rec.name} is unavailable at this time.") from None
    return reply({"hypervisor": {**_hypervisor(runtime, version, rec, svc, False), "uptime": uptime}})


# --- search and servers by hostname pattern (before 2.53; 404 from it, as Nova) ------------------


def _matching(request: Request, runtime: Any, pattern: str) -> list[tuple[Any, Any]]:
    from overcast.api.compute.admin import _rows

    if version_of(request) >= (2, 53):
        raise NotFound("The resource could not be found.")
    hosts, services = _rows(runtime)
    found = [(h, services[h.name]) for h in hosts if pattern in h.name and h.name in services]
    if not found:
        raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    return found


@router.get("/v2.1/os-hypervisors/{pattern}/search")
def search_hypervisors(
    pattern: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:hypervisors:search")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    """The hypervisors whose hostname contains ``pattern``."""
    from overcast.api.compute.admin import _hypervisor
    from overcast.api.compute.common import reply

    version = version_of(request)
    found = _matching(request, runtime, pattern)
    return reply({"hypervisors": [_hypervisor(runtime, version, h, svc, False) for h, svc in found]})


@router.get("/v2.1/os-hypervisors/{pattern}/servers")
def hypervisor_servers(
    pattern: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:hypervisors:servers")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    """The hypervisors whose hostname contains ``pattern``, each with its servers."""
    from overcast.api.compute.admin import _hypervisor, _servers_on
    from overcast.api.compute.common import reply

    version = version_of(request)
    found = _matching(request, runtime, pattern)
    out = [_hypervisor(runtime, version, h, svc, False, _servers_on(runtime, h.name)) for h, svc in found]
    return reply({"hypervisors": out})
