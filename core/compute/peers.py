"""The compute service's view of its peers (image, network, volume services).

Compute talks to them only through the methods below, on ``runtime.service(name)``; a
service that is not installed yet is ``None`` and the feature that needs it says so.

Interface expected of each peer (keyword arguments, contract types from ``overcast.types``):

* image: ``image_ref(ctx, image_id) -> ImageRef`` (``NotFound`` if absent or not visible);
  ``fetch_to_cache(image, cache_dir, formats) -> ImageFile`` (host side: download once,
  verify, convert to one of ``formats``); ``create_snapshot_record(ctx, name, properties) ->
  str`` (a queued image's id); ``upload_file(image_id, path, disk_format) -> None``;
  ``discard_image(image_id) -> None`` (a failed snapshot).
* network: ``validate_networks(ctx, requested) -> None``; ``allocate_for_instance(ctx,
  instance_uuid, host, requested) -> list[VifDetails]``; ``instance_addresses(ctx,
  instance_uuid) -> dict``; ``deallocate_for_instance(ctx, instance_uuid) -> None``.
* volume: ``reserve_attach(ctx, volume_id, instance_uuid)``; ``initialize_connection(ctx,
  volume_id, connector) -> ConnectionInfo``; ``complete_attach(ctx, volume_id,
  instance_uuid, mountpoint, host)``; ``unreserve(ctx, volume_id)``; ``begin_detach(ctx,
  volume_id, instance_uuid)``; ``terminate_connection(ctx, volume_id, connector)``;
  ``complete_detach(ctx, volume_id, instance_uuid)``.
"""

from __future__ import annotations

import logging
from typing import Any

from overcast.errors import BadRequest, Conflict

log = logging.getLogger(__name__)


def optional_service(runtime: Any, name: str) -> Any | None:
    """``runtime.service(name)``, or ``None`` while that service is not part of the install."""
    try:
        return runtime.service(name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"overcast.{name}"):
            return None
        raise


def require(runtime: Any, name: str, method: str, what: str) -> Any:
    """The peer ``name`` if it offers ``method``; otherwise a clear 409 naming ``what``."""
    svc = optional_service(runtime, name)
    if svc is None or not hasattr(svc, method):
        raise Conflict(f"{what} needs the {name} service, which is not available in this cloud.")
    return svc


def lookup_image(runtime: Any, ctx: Any, image_id: str):
    """The image a server boots from; 400 as Nova answers for an unknown image."""
    from overcast.errors import NotFound

    svc = optional_service(runtime, "image")
    if svc is None or not hasattr(svc, "image_ref"):
        raise BadRequest(f"Image {image_id} could not be found (no image service is available).")
    try:
        return svc.image_ref(ctx, image_id)
    except NotFound:
        raise BadRequest(f"Image {image_id} could not be found.") from None
