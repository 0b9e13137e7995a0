"""HTTP API of the orchestration service: Heat v1 under ``/orchestration/v1/{tenant_id}``,
version discovery at ``/orchestration``; errors in Heat's fault format
(``overcast.api.errors.heat_error``)."""

from fastapi import Request
from fastapi.responses import Response

from overcast.api.routing import ServiceRouter
from overcast.api.orchestration import events, preview, resources, signals, stacks, templates
from overcast.api.orchestration.common import reply

router = ServiceRouter(served_at="/orchestration")


@router.get("/orchestration")
@router.get("/orchestration/")
def versions(request: Request) -> Response:
    href = str(request.base_url).rstrip("/") + "/orchestration/v1/"
    return reply({"versions": [{"status": "CURRENT", "id": "v1.0", "links": [{"href": href, "rel": "self"}]}]}, 300)


router.include_router(signals.router)
for _module in (templates, stacks, preview, resources, events):
    router.include_router(_module.router, prefix="/orchestration/v1/{tenant_id}")
