"""The compute service's calls into its peers (image, network, volume services).

Compute talks to them only through the methods used here, on ``runtime.service(name)``; a
service that is not installed is ``None`` and the feature that needs it says so. The
methods are those the peers expose for compute:

* image: ``get_ref(ctx, id) -> ImageRef``; ``locate(ctx, id) -> (ImageRef, location)``;
  ``create(ctx, body) -> view`` (a queued snapshot image); ``update(ctx, id, patch)``;
  ``upload(ctx, id, chunks, size=)``; ``delete(ctx, id)``; host side
  ``fetch_to_cache(image, location, cache_dir, want_formats) -> ImageFile``.
* network: ``allocate_port_for_instance(ctx, instance_uuid, host, network_id=, port_id=,
  fixed_ip=) -> Port``; ``bind_port(ctx, port_id, host) -> VifDetails``;
  ``get_instance_addresses(instance_uuid)``; ``deallocate_ports(ctx, instance_uuid)``.
* volume: ``get_volume(ctx, id)``; ``reserve(ctx, id, instance_uuid) -> attachment_id``;
  ``initialize_connection(ctx, id, connector, attachment_id)``; ``attach(ctx, id,
  attachment_id, mountpoint, host)``; ``unreserve``; ``begin_detaching``;
  ``roll_detaching``; ``terminate_connection(ctx, id, connector, attachment_id)``;
  ``detach(ctx, id, attachment_id)``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from overcast.context import RequestContext, system_context
from overcast.errors import BadRequest, Conflict, NotFound
from overcast.types import ImageRef, VifDetails

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


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


# --- image ---------------------------------------------------------------------------------------


def lookup_image(runtime: Any, ctx: RequestContext, image_id: str) -> ImageRef:
    """The image a server boots from; 400 as Nova answers for an unknown or unusable image."""
    svc = optional_service(runtime, "image")
    if svc is None:
        raise BadRequest(f"Image {image_id} could not be found (no image service is available).")
    try:
        return svc.get_ref(ctx, image_id)
    except NotFound:
        raise BadRequest(f"Image {image_id} could not be found.") from None
    except Conflict as exc:
        raise BadRequest(f"Image {image_id} is not active: {exc}") from None


def image_location(runtime: Any, ctx: RequestContext, image: ImageRef | None) -> str | None:
    """Where the host's agent fetches ``image`` from (looked up with the owner's rights)."""
    if image is None:
        return None
    return require(runtime, "image", "locate", "Booting from an image").locate(ctx, image.id)[1]


def create_snapshot_image(runtime: Any, ctx: RequestContext, name: str, disk_format: str,
                          properties: dict[str, str]) -> str:
    """A queued, private image that the snapshot will be uploaded into; returns its id."""
    svc = require(runtime, "image", "create", "Creating a server image")
    body = {**properties, "name": name, "disk_format": disk_format, "container_format": "bare", "visibility": "private"}
    return svc.create(ctx, body)["id"]


def upload_snapshot(svc: Any, image_id: str, path: str, disk_format: str, planned_format: str) -> None:
    """Host side: fill the queued image from the file the driver wrote."""
    import os

    ctx = system_context()
    if disk_format != planned_format:
        svc.update(ctx, image_id, [{"op": "replace", "path": "/disk_format", "value": disk_format}])
    svc.upload(ctx, image_id, _chunks(path), size=os.path.getsize(path))


def discard_image(runtime: Any, image_id: str) -> None:
    svc = optional_service(runtime, "image")
    if svc is None:
        return
    try:
        svc.delete(system_context(), image_id)
    except NotFound:
        pass


def _chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            yield block


# --- network -------------------------------------------------------------------------------------


def allocate_network(runtime: Any, ctx: RequestContext, instance_uuid: str, host: str,
                     requested: list) -> tuple[list[VifDetails], dict]:
    """Ports for the requested networks, bound on ``host``; ``none``/``auto`` make none."""
    if not requested or requested in (["none"], ["auto"]):
        return [], {}
    net = require(runtime, "network", "allocate_port_for_instance", "Attaching a server to a network")
    vifs = []
    for item in requested:
        port = net.allocate_port_for_instance(ctx, instance_uuid, host, network_id=item.get("uuid"),
                                              port_id=item.get("port"), fixed_ip=item.get("fixed_ip"))
        vifs.append(net.bind_port(ctx, port.id, host))
    return vifs, net.get_instance_addresses(instance_uuid)


def rebind_ports(runtime: Any, instance_uuid: str, port_ids: list[str], host: str) -> list[VifDetails]:
    """Bind a server's ports on ``host`` (a migration's destination)."""
    net = optional_service(runtime, "network")
    if net is None or not port_ids:
        return []
    return [net.bind_port(system_context(), port_id, host) for port_id in port_ids]


def instance_addresses(runtime: Any, instance_uuid: str) -> dict | None:
    net = optional_service(runtime, "network")
    if net is None or not hasattr(net, "get_instance_addresses"):
        return None
    return net.get_instance_addresses(instance_uuid)


def deallocate_network(runtime: Any, instance_uuid: str) -> None:
    net = optional_service(runtime, "network")
    if net is not None and hasattr(net, "deallocate_ports"):
        net.deallocate_ports(system_context(), instance_uuid)


def validate_networks(runtime: Any, ctx: RequestContext, requested: list) -> None:
    """400 at create time for a network or port the caller cannot use, as Nova answers."""
    if not requested or requested in (["none"], ["auto"]):
        return
    net = optional_service(runtime, "network")
    if net is None:
        first = requested[0].get("uuid") or requested[0].get("port")
        raise BadRequest(f"Network {first} could not be found (no network service is available).")
    for item in requested:
        for key, manager, what in (("uuid", "networks", "Network"), ("port", "ports", "Port")):
            value = item.get(key)
            finder = getattr(getattr(net, manager, None), "get", None)
            if value and finder is not None:
                try:
                    finder(ctx, value)
                except NotFound:
                    raise BadRequest(f"{what} {value} could not be found.") from None
