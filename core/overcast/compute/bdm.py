"""``block_device_mapping_v2`` at server create (issue 18): what a request maps is either
honoured or refused with Nova's 400 before anything is made, never ignored.

Honoured today: the image's root disk (``source_type=image``, ``destination_type=local``,
``boot_index=0``), which is what ``imageRef`` does. Refused, with Nova's ``Block Device
Mapping is Invalid`` wording: a malformed mapping, and the mappings this cloud cannot make
yet (boot from a volume, volumes, snapshots and blank volumes attached at create,
ephemeral and swap disks); attach volumes after create with ``server add volume``.
"""

from __future__ import annotations

from typing import Any

from overcast.errors import BadRequest

SOURCES = ("image", "volume", "snapshot", "blank")
DESTINATIONS = ("local", "volume")


def invalid(reason: str) -> BadRequest:
    return BadRequest(f"Block Device Mapping is Invalid: {reason}")


def boot_image(body: dict[str, Any]) -> str | None:
    """The image a valid ``block_device_mapping_v2`` boots (``None`` if it names none);
    raises ``BadRequest`` for any mapping that would not be honoured."""
    mappings = body.get("block_device_mapping_v2")
    if mappings is None:
        return None
    if not isinstance(mappings, list):
        raise BadRequest("Invalid input for field/attribute block_device_mapping_v2. Value: not a list.")
    image: str | None = None
    for bdm in mappings:
        if not isinstance(bdm, dict):
            raise BadRequest("Invalid input for field/attribute block_device_mapping_v2. Value: not an object.")
        source, dest = bdm.get("source_type"), bdm.get("destination_type") or "local"
        if source not in SOURCES:
            raise invalid(f"source_type {source!r} is not one of {', '.join(SOURCES)}.")
        if dest not in DESTINATIONS:
            raise invalid(f"destination_type {dest!r} is not one of {', '.join(DESTINATIONS)}.")
        boot = bdm.get("boot_index")
        if source == "image" and dest == "local" and boot in (0, "0"):
            uuid = bdm.get("uuid")
            if not isinstance(uuid, str) or not uuid:
                raise invalid("the boot image mapping has no uuid.")
            if image is not None:
                raise invalid("Boot sequence for the instance and image/block device mapping combination is not valid.")
            if body.get("imageRef") and str(body["imageRef"]).rstrip("/").rsplit("/", 1)[-1] != uuid:
                raise invalid(f"the boot mapping's image {uuid} is not imageRef {body['imageRef']}.")
            image = uuid
            continue
        what = "boot from a volume" if boot in (0, "0") else f"a {source} mapped to {dest}"
        raise invalid(
            f"{what} (source_type={source}, destination_type={dest}) is not supported by this cloud; "
            "boot from an image and attach volumes with 'server add volume'."
        )
    return image
