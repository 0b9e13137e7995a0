"""HTTP API of the image service (Glance v2) under ``/image``.

Bare image objects, no envelopes; JSON-patch updates; streamed data with ranges. Logic
lives in ``overcast.image``; these modules only translate HTTP.
"""

import re


from overcast.api.routing import ServiceRouter
from overcast.api.image import data, images, members, metadefs, tasks, versions
from overcast.api.middleware import RouteLimit
from overcast.config import Config

PREFIX = "/image"

router = ServiceRouter(served_at=PREFIX)
router.include_router(versions.router)  # carries the /image prefix itself (its root is "")
for _module in (images, data, members, metadefs, tasks):
    router.include_router(_module.router, prefix=PREFIX)


def body_limits(config: Config) -> list[RouteLimit]:
    """Image data streams to the store (or the staging area): up to ``[image] max_image_size``."""
    return [RouteLimit("PUT", re.compile(r"^/image/v2/images/[^/]+/(file|stage)$"), config.image.max_image_size)]
