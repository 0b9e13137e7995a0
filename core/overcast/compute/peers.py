"""The compute service's calls into its peers (image, network, volume services).

Compute talks to them only through the methods used here, on ``runtime.service(name)``; a
service that is not installed is ``None`` and the feature that needs it says so. The
methods are those the peers expose for compute:

* image: ``image_ref(ctx, id) -> ImageRef``; ``create_snapshot_record(ctx, name,
  properties) -> id`` (a queued private image); ``discard_image(id)``; host side
  ``fetch_to_cache(image, cache_dir, formats) -> ImageFile`` and ``upload_file(id, path,
  disk_format)``.
* network: ``allocate_port_for_instance(ctx, instance_uuid, host, network_id=, port_id=,
  fixed_ip=) -> Port``; ``bind_port(ctx, port_id, host) -> VifDetails``;
  ``get_instance_addresses(instance_uuid)``; ``deallocate_ports(ctx, instance_uuid)``.
* volume: ``get_volume(ctx, id)``; ``reserve_attach(ctx, id, instance_uuid) ->
  attachment_id``; ``initialize_connection(ctx, id, connector, instance_uuid=)``;
  ``complete_attach(ctx, id, instance_uuid, mountpoint, host)``; ``unreserve(ctx, id,
  instance_uuid)``; ``begin_detach(ctx, id, instance_uuid)``; ``roll_detaching(ctx, id,
  instance_uuid)``; ``terminate_connection(ctx, id, connector)``; ``complete_detach(ctx, id,
  instance_uuid)``.
"""

from __future__ import annotations

import logging
from typing import Any

from overcast.context import RequestContext, system_context
from overcast.errors import BadRequest, Conflict, NotFound
from overcast.types import ImageRef, VifDetails

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


# --- image ---------------------------------------------------------------------------------------


def lookup_image(runtime: Any, ctx: RequestContext, image_id: str) -> ImageRef:
    """The image a server boots from; 400 as Nova answers for an unknown or unusable image."""
    svc = optional_service(runtime, "image")
    if svc is None:
        raise BadRequest(f"Image {image_id} could not be found (no image service is available).")
    try:
        return svc.image_ref(ctx, image_id)
    except NotFound:
        raise BadRequest(f"Image {image_id} could not be found.") from None
    except (Conflict, BadRequest) as exc:
        raise BadRequest(f"Image {image_id} is not usable: {exc}") from None


def create_snapshot_image(runtime: Any, ctx: RequestContext, name: str, properties: dict[str, str]) -> str:
    """A queued, private image that the snapshot will be uploaded into; returns its id."""
    svc = require(runtime, "image", "create_snapshot_record", "Creating a server image")
    return svc.create_snapshot_record(ctx, name, properties)


def discard_image(runtime: Any, image_id: str) -> None:
    svc = optional_service(runtime, "image")
    if svc is not None:
        svc.discard_image(image_id)


# --- network -------------------------------------------------------------------------------------


def allocate_network(
    runtime: Any, ctx: RequestContext, instance_uuid: str, host: str, requested: list
) -> tuple[list[VifDetails], dict]:
    """Ports for the requested networks, bound on ``host``; ``none``/``auto`` make none."""
    if not requested or requested in (["none"], ["auto"]):
        return [], {}
    net = require(runtime, "network", "allocate_port_for_instance", "Attaching a server to a network")
    vifs = []
    for item in requested:
        port = net.allocate_port_for_instance(
            ctx,
            instance_uuid,
            host,
            network_id=item.get("uuid"),
            port_id=item.get("port"),
            fixed_ip=item.get("fixed_ip"),
            security_groups=item.get("security_groups"),
        )
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


def instance_security_groups(runtime: Any, instance_uuids: list[str]) -> dict[str, list[str]]:
    """The security group names on each server's ports (none without a network service)."""
    net = optional_service(runtime, "network")
    if net is None:
        return {}
    groups: dict[str, list[str]] = net.instance_security_groups(instance_uuids)
    return groups


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
