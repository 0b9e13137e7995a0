"""HTTP API of the identity service: Keystone v3 under ``/identity``.

One module per resource family; each has its own ``router`` and they are all mounted
here under the ``/identity`` prefix. Handlers parse and format; the logic is in
``overcast.identity``.
"""

from overcast.api.routing import ServiceRouter
from overcast.api.identity import (
    appcreds,
    blobs,
    catalog,
    discovery,
    domains,
    endpoint_filter,
    groups,
    projects,
    roles,
    tokens,
    users,
)

#: Token validation, served ahead of FastAPI's stack (see ``overcast.api.app``).
FAST_ROUTES = tokens.FAST_ROUTES

router = ServiceRouter(prefix="/identity")
router.add_api_route("", discovery.versions, methods=["GET"])
router.add_api_route("/", discovery.versions, methods=["GET"])
for _module in (
    tokens,
    discovery,
    projects,
    users,
    roles,
    groups,
    appcreds,
    domains,
    catalog,
    blobs,
    endpoint_filter,
):  # hottest first
    router.include_router(_module.router)

__all__ = ["router", "FAST_ROUTES"]
