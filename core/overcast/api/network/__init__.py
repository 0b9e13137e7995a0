"""HTTP API of the network service: Neutron v2.0 under ``/networking``.

Handlers parse and format; the logic is in :mod:`overcast.network`. Errors are raised as
``overcast.errors`` types with Neutron ``code`` names and formatted once by the app.
"""

from overcast.api.routing import ServiceRouter
from overcast.api.network import extras
from overcast.api.network.resources import RESOURCES, add_resource_routes

router = ServiceRouter(prefix="/networking")
router.add_api_route("", extras.versions, methods=["GET"])
router.add_api_route("/", extras.versions, methods=["GET"])
router.include_router(extras.router)
for _resource in RESOURCES:
    add_resource_routes(router, _resource)
