"""HTTP API of the objectstore service (Swift v1) under ``/object``.

``/object/v1/AUTH_<project_id>/...`` is served by :class:`~overcast.api.objectstore.swift.SwiftApp`
(a lean ASGI app, reached through ``FAST_PATHS`` ahead of FastAPI's routing: this is the
benchmarked data path); ``/object/info`` (capabilities, read by
swiftclient before segmented uploads) and ``/object/healthcheck`` are ordinary routes.
"""

import re

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from overcast.objectstore.archives import MAX_CONTAINERS, MAX_FAILED
from overcast import __version__
from overcast.api.deps import get_runtime
from overcast.api.middleware import RouteLimit
from overcast.api.objectstore.swift import SwiftApp
from overcast.config import Config
from overcast.errors import NotFound
from overcast.objectstore.service import MAX_BULK_DELETES
from overcast.objectstore.names import MAX_CONTAINER_NAME, MAX_OBJECT_NAME
from overcast.objectstore.metadata import MAX_META_COUNT, MAX_META_NAME, MAX_META_VALUE
from overcast.objectstore.symlinks import SYMLOOP_MAX
from overcast.objectstore.tempurl import METHODS as TEMPURL_METHODS

# The Swift release whose API this object store answers as: clients and Tempest gate features on
# /info's ``swift.version`` (the account object-count quota, for one, from 2.34). Overcast's own
# version is /info's ``overcast.version``.
SWIFT_API_VERSION = "2.34.0"

swift_app = SwiftApp()
router = APIRouter()
router.mount("/object/v1", swift_app, name="swift")
#: ``create_app`` routes these prefixes to the lean app ahead of FastAPI's routing (the Mount
#: above serves the same app if it is not).
FAST_PATHS = {"/object/v1/": swift_app}


#: the largest ?bulk-delete body (Swift's max_deletes_per_request of 10,000 paths)
BULK_DELETE_BODY = 16 * 1024 * 1024


def body_limits(config: Config) -> list[RouteLimit]:
    """Object data streams to the store: up to ``[objectstore] max_file_size`` (the object
    service checks the same limit, and a container's quota, as the data arrives)."""
    return [
        RouteLimit("PUT", re.compile(r"^/object/v1/[^/]+/[^/]+/."), config.objectstore.max_file_size),
        # a FormPost form's files, to a container or under an object prefix
        RouteLimit("POST", re.compile(r"^/object/v1/[^/]+/[^/]+"), config.objectstore.max_file_size),
        # an account POST carries a ?bulk-delete list: Swift's 10,000 names, percent-encoded
        RouteLimit("POST", re.compile(r"^/object/v1/[^/]+/?$"), BULK_DELETE_BODY),
        RouteLimit("DELETE", re.compile(r"^/object/v1/[^/]+/?$"), BULK_DELETE_BODY),
        # ?extract-archive to an account or a container: an archive of objects
        RouteLimit("PUT", re.compile(r"^/object/v1/[^/]+(/[^/]+)?/?$"), config.objectstore.max_file_size),
    ]


@router.get("/object/info", include_in_schema=True)
def info(runtime=Depends(get_runtime)) -> JSONResponse:  # noqa: B008
    """Swift's capabilities document."""
    settings = runtime.config.objectstore
    svc = runtime.objectstore
    return JSONResponse(
        {
            "swift": {
                "version": SWIFT_API_VERSION,
                "max_file_size": settings.max_file_size,
                "max_meta_name_length": MAX_META_NAME,
                "max_meta_value_length": MAX_META_VALUE,
                "max_meta_count": MAX_META_COUNT,
                "max_meta_overall_size": settings.max_meta_overall_size,
                "max_object_name_length": MAX_OBJECT_NAME,
                "max_container_name_length": MAX_CONTAINER_NAME,
                "container_listing_limit": settings.container_listing_limit,
                "account_listing_limit": settings.container_listing_limit,
                "max_header_size": 8192,
                "extra_header_count": 0,
                "strict_cors_mode": True,
                "policies": [{"name": name, "default": name == svc.default_policy} for name in svc.backends],
            },
            "slo": {
                "max_manifest_segments": settings.max_manifest_segments,
                "max_manifest_size": 8 * 1024 * 1024,
                "min_segment_size": settings.min_segment_size,
                "yield_frequency": 10,
            },
            "dlo": {"max_segments": 10000},
            "container_quotas": {},
            "account_quotas": {},
            "tempurl": {"methods": list(TEMPURL_METHODS), "allowed_digests": ["sha1", "sha256", "sha512"]},
            "versioned_writes": {"allowed_flags": ["x-versions-location", "x-history-location"]},
            "bulk_delete": {"max_deletes_per_request": MAX_BULK_DELETES, "max_failed_deletes": MAX_BULK_DELETES},
            "bulk_upload": {"max_containers_per_extraction": MAX_CONTAINERS, "max_failed_extractions": MAX_FAILED},
            "symlink": {"symloop_max": SYMLOOP_MAX, "static_links": True},
            "formpost": {"allowed_digests": ["sha1", "sha256", "sha512"]},
            "staticweb": {},
            **({"crossdomain": {}} if settings.cross_domain_policy else {}),
            "overcast": {"version": __version__},
        }
    )


CROSS_DOMAIN_XML = (
    '<?xml version="1.0"?>\n'
    '<!DOCTYPE cross-domain-policy SYSTEM "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd" >\n'
    "<cross-domain-policy>\n{}\n</cross-domain-policy>"
)


@router.get("/object/crossdomain.xml", include_in_schema=False)
def crossdomain(runtime=Depends(get_runtime)) -> Response:  # noqa: B008
    """Swift's crossdomain middleware: the operator's ``[objectstore] cross_domain_policy``."""
    policy = runtime.config.objectstore.cross_domain_policy
    if not policy:
        raise NotFound("crossdomain.xml is not served: [objectstore] cross_domain_policy is not set")
    return Response(CROSS_DOMAIN_XML.format(policy), media_type="application/xml")


@router.get("/object/healthcheck", include_in_schema=False)
def healthcheck() -> PlainTextResponse:
    return PlainTextResponse("OK")
