"""HTTP API of the compute service (Nova v2.1 with microversions up to
:data:`~overcast.api.compute.microversion.MAX_VERSION`), under ``/compute``."""

from fastapi import Request
from starlette.types import Receive, Scope, Send

from overcast.api.compute import (
    admin,
    aggregates,
    consoles,
    diagnostics,
    extensions,
    external_events,
    flavors,
    hypervisor_uptime,
    images,
    interfaces,  # issue 18: os-interface
    keypairs,
    metadata,
    migrations,
    network_proxy,  # Nova's network proxies, until 2.35
    os_hosts,
    quota_classes,
    server_actions,
    server_password,
    server_secgroups,
    server_tags,
    servers,
    usage,
    usage_audit,
    volume_attachments,
    volume_proxy,
)
from overcast.api.compute.common import base_url, reply
from overcast.api.compute.microversion import MAX_VERSION, MIN_VERSION, fmt
from overcast.api.deps import context_of
from overcast.api.routing import ServiceRouter
from overcast.errors import NotFound

router = ServiceRouter(prefix="/compute")

_MEDIA = [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]


def _v21(request: Request) -> dict:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": fmt(MAX_VERSION),
        "min_version": fmt(MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base_url(request)}/compute/v2.1/"}],
        "media-types": _MEDIA,
    }


def _v20(request: Request) -> dict:
    """The legacy v2.0 endpoint: the v2.1 API at its base version, without microversions
    (Nova's v2 compatibility mode; :func:`legacy_v2` serves it)."""
    return {
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base_url(request)}/compute/v2/"}],
        "media-types": _MEDIA_V2,
    }


_MEDIA_V2 = [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}]


@router.get("/")
@router.get("")
def versions(request: Request):
    return reply({"versions": [_v20(request), _v21(request)]})


@router.get("/v2/")
@router.get("/v2")
def version_v20(request: Request):
    return reply({"version": _v20(request)})


_MICROVERSION_HEADERS = {b"openstack-api-version", b"x-openstack-nova-api-version"}


async def legacy_v2(scope: Scope, receive: Receive, send: Send) -> None:
    """``/compute/v2/...``: the same request on ``/compute/v2.1/...`` with any microversion
    header dropped, so it is served at 2.1 (as Nova's legacy v2 endpoint is)."""
    path = scope["path"].replace("/compute/v2/", "/compute/v2.1/", 1)
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _MICROVERSION_HEADERS]
    inner = {**scope, "path": path, "raw_path": path.encode(), "root_path": "", "headers": headers}
    await scope["app"].router(inner, receive, send)


@router.get("/v2.1/")
@router.get("/v2.1")
def version_v21(request: Request):
    return reply({"version": _v21(request)})


for module in (
    servers,
    server_actions,
    volume_attachments,
    server_tags,
    metadata,
    flavors,
    images,
    admin,
    keypairs,
    migrations,
    aggregates,
    hypervisor_uptime,
    usage,
    server_secgroups,
    network_proxy,
    interfaces,
    os_hosts,
    usage_audit,
    external_events,
    diagnostics,
    extensions,
    server_password,
    volume_proxy,
    quota_classes,
):
    router.include_router(module.router)
router.include_router(consoles.router)  # issue 17: remote consoles and their websocket proxy


@router.api_route("/v2.1/{path:path}/", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
def no_such_path(path: str, request: Request) -> None:
    """A path ending in ``/`` that no route above serves (``os-volumes/``: an empty id) is
    Nova's 404, after authentication. Without this, Starlette would redirect it to the path
    without the slash: the collection, whose list answers a GET and whose 405 a DELETE."""
    context_of(request)
    raise NotFound("The resource could not be found.")


router.mount("/compute/v2", legacy_v2, name="compute-v2")
