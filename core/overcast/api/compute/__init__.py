"""HTTP API of the compute service (Nova v2.1 with microversions up to
:data:`~overcast.api.compute.microversion.MAX_VERSION`), under ``/compute``."""

from fastapi import APIRouter, Request

from overcast.api.compute import admin, flavors, keypairs, servers
from overcast.api.compute.common import base_url, reply
from overcast.api.compute.microversion import MAX_VERSION, MIN_VERSION, fmt

router = APIRouter(prefix="/compute")

_MEDIA = [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]


def _v21(request: Request) -> dict:
    return {
        "id": "v2.1", "status": "CURRENT", "version": fmt(MAX_VERSION), "min_version": fmt(MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base_url(request)}/compute/v2.1/"}], "media-types": _MEDIA,
    }


@router.get("/")
@router.get("")
def versions(request: Request):
    return reply({"versions": [_v21(request)]})


@router.get("/v2.1/")
@router.get("/v2.1")
def version_v21(request: Request):
    return reply({"version": _v21(request)})


for module in (servers, flavors, admin, keypairs):
    router.include_router(module.router)
