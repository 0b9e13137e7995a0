"""HTTP API of the network service: Neutron v2.0 under ``/networking``.

Handlers parse and format; the logic is in :mod:`overcast.network`. Errors are raised as
``overcast.errors`` types with Neutron ``code`` names and formatted once by the app.
"""

from fastapi import APIRouter

from overcast.api.network import extras
from overcast.api.network.resources import RESOURCES, add_resource_routes

router = APIRouter(prefix="/networking")
router.add_api_route("", extras.versions, methods=["GET"])
router.add_api_route("/", extras.versions, methods=["GET"])
router.include_router(extras.router)
for _resource in RESOURCES:
    add_resource_routes(router, _resource)
