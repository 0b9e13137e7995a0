"""HTTP API of the load-balancer service: Octavia v2 under ``/load-balancer`` (``/v2`` and
``/v2.0``, as Octavia serves both). Handlers parse the query and format; the logic is in
:mod:`overcast.loadbalancer`. Errors are ``overcast.errors`` types rendered once in
Octavia's ``faultstring`` format (``api/errors.py``)."""

from __future__ import annotations


from overcast.api.routing import ServiceRouter
from overcast.api.loadbalancer import routes

router = ServiceRouter(prefix="/load-balancer")
router.add_api_route("", routes.versions, methods=["GET"])
router.add_api_route("/", routes.versions, methods=["GET"])
for _version in ("/v2", "/v2.0"):
    router.include_router(routes.build(), prefix=_version)
