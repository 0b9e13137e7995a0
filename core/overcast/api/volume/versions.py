"""Version discovery at ``/volume`` and ``/volume/v3`` (what keystoneauth reads)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from overcast.api.routing import ResourceRouter
from overcast.api.volume.common import MAX_VERSION, MIN_VERSION, base_url, reply

router = ResourceRouter()


def version_entry(request: Request) -> dict:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": "%d.%d" % MAX_VERSION,
        "min_version": "%d.%d" % MIN_VERSION,
        "updated": "2023-08-31T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base_url(request)}/volume/v3/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    }


@router.get("/volume")
@router.get("/volume/")
def root(request: Request) -> Response:
    return reply({"versions": [version_entry(request)]}, 300)


@router.get("/volume/v3")
@router.get("/volume/v3/")
def v3(request: Request) -> Response:
    return reply({"versions": [version_entry(request)]}, 200)
