"""Version discovery (``GET /identity`` and ``GET /identity/v3``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from overcast.api.identity import render
from overcast.api.routing import ResourceRouter

router = ResourceRouter()

API_VERSION = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"


def _version(request: Request) -> dict[str, Any]:
    return {
        "id": API_VERSION,
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": render.v3_url(request, "/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


# The version documents are async (pure computation): every client reads them first, and a
# sync route would cost a hop to the thread pool.


async def versions(request: Request) -> Response:
    """``GET /identity`` (mounted in the package, which has the prefix)."""
    return render.json_response(
        {"versions": {"values": [_version(request)]}}, 300, {"Location": render.v3_url(request, "/")}
    )


@router.get("/v3")
@router.get("/v3/")
async def version(request: Request) -> Response:
    return render.json_response({"version": _version(request)})
