"""Version discovery: ``GET /image`` lists v2 versions. The SDK and the ``openstack`` CLI
refuse an image endpoint without it; the ``self`` link becomes their base URL."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import get_runtime
from overcast.api.image.common import base_url, json_response
from overcast.api.routing import ResourceRouter
from overcast.runtime import Runtime

router = ResourceRouter(prefix="/image")

#: newest first; v2.16 is the current Glance API (2024.x); 2.12 adds an image's import tasks
VERSIONS = ("2.16", "2.15", "2.12", "2.9", "2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1", "2.0")


def versions_document(root: str) -> dict:
    return {
        "versions": [
            {
                "id": f"v{v}",
                "status": "CURRENT" if i == 0 else "SUPPORTED",
                "links": [{"rel": "self", "href": f"{root}/image/v2/"}],
            }
            for i, v in enumerate(VERSIONS)
        ]
    }


@router.get("")
@router.get("/")
@router.get("/versions")
def list_versions(request: Request, runtime: Runtime = Depends(get_runtime)) -> Response:
    return json_response(versions_document(base_url(request, runtime)), status=300)


@router.get("/v2")
@router.get("/v2/")
def version_v2(request: Request, runtime: Runtime = Depends(get_runtime)) -> Response:
    return json_response(versions_document(base_url(request, runtime)), status=300)
