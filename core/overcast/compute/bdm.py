"""Block device mappings at server create (issue 18): ``block_device_mapping_v2`` and the
legacy ``block_device_mapping``, parsed into :class:`Mapping` values the way Nova reads them
(``nova.block_device.BlockDeviceDict.from_api`` / ``from_legacy``), with Nova's 400 texts.

This module only reads the request; :mod:`overcast.compute.boot_volumes` checks the
mappings against the volume and image services and makes them. What this cloud honours:

* the image's root disk (``image`` -> ``local``, ``boot_index`` 0, with ``imageRef``);
* volumes: ``volume`` -> ``volume`` (an existing volume), ``image`` / ``snapshot`` / ``blank``
  -> ``volume`` (a new volume, ``volume_size`` GiB), any of them as the root disk (boot from
  volume) or as an extra disk, with ``delete_on_termination`` and ``device_name``.

Refused with a 400 before anything is made, never ignored: ephemeral and swap disks
(``blank`` -> ``local``, legacy ``virtual_name``), device types other than ``disk``, disk buses
other than ``virtio``, device tags, ``guest_format``, and ``connection_info``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from overcast.errors import BadRequest

SOURCES = ("image", "volume", "snapshot", "blank")
DESTINATIONS = ("local", "volume")
ROOT_DEVICE = "/dev/vda"

#: the properties Nova's schema allows in one legacy ``block_device_mapping`` item
LEGACY_FIELDS = frozenset(
    {"virtual_name", "volume_id", "snapshot_id", "volume_size", "device_name", "delete_on_termination", "no_device"}
) | {"connection_info"}
#: ... and in one ``block_device_mapping_v2`` item (the legacy ones too)
V2_FIELDS = LEGACY_FIELDS | {
    "source_type",
    "uuid",
    "image_id",
    "destination_type",
    "guest_format",
    "device_type",
    "disk_bus",
    "boot_index",
    "tag",
    "volume_type",
}
_BOOLEANS = {"true": True, "1": True, "on": True, "yes": True, "y": True, "t": True}
_FALSES = {"false", "0", "off", "no", "n", "f", ""}
_DEVICE = re.compile(r"^(/dev/)?[a-z]+[a-z0-9]*$")


@dataclass(frozen=True)
class Mapping:
    """One requested block device, normalised. ``uuid`` is the source's id (image, volume
    or snapshot; ``None`` for blank); ``boot_index`` is ``None`` for a non-boot device."""

    source_type: str
    destination_type: str
    uuid: str | None = None
    boot_index: int | None = None
    volume_size: int | None = None
    delete_on_termination: bool = False
    device_name: str | None = None
    volume_type: str | None = None
    # the root volume's image properties (its volume_image_metadata), for the scheduler's
    # image filters, set at create once the source is known
    image_properties: dict[str, str] | None = None

    @property
    def is_root(self) -> bool:
        return self.boot_index == 0

    @property
    def makes_volume(self) -> bool:
        """A new volume is created for it (from an image, a snapshot, or blank)."""
        return self.destination_type == "volume" and self.source_type != "volume"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mapping:
        return cls(**data)


def invalid(details: str) -> BadRequest:
    """Nova's ``InvalidBDMFormat``."""
    return BadRequest(f"Block Device Mapping is Invalid: {details}")


def boot_sequence_invalid() -> BadRequest:
    """Nova's ``InvalidBDMBootSequence``."""
    return invalid("Boot sequence for the instance and image/block device mapping combination is not valid.")


def unsupported(what: str) -> BadRequest:
    return invalid(f"{what} is not supported by this cloud.")


def _bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _BOOLEANS:
        return True
    if text in _FALSES:
        return False
    raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value!r}.")


def _size(value: Any) -> int | None:
    """``volume_size`` as Nova's schema reads it: an integer of 1 or more (or digits)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadRequest(f"Invalid input for field/attribute volume_size. Value: {value!r}.")
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Invalid input for field/attribute volume_size. Value: {value!r}.") from None
    if number < 0:
        raise invalid("Invalid volume_size.")
    return number or None


def _boot_index(value: Any) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid("Boot index is invalid.") from None
    return number if number >= 0 else None


def _device_name(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 255 or not _DEVICE.match(value):
        raise invalid("Device name empty or too long.") if not value else invalid(f"Invalid device name {value!r}.")
    return value if value.startswith("/dev/") else f"/dev/{value}"


def _unknown(item: dict[str, Any], allowed: frozenset[str], attribute: str) -> None:
    extra = sorted(set(item) - allowed)
    if extra:
        names = ", ".join(f"'{k}'" for k in extra)
        raise BadRequest(
            f"Invalid input for field/attribute {attribute}. Value: {item!r}. "
            f"Additional properties are not allowed ({names} {'was' if len(extra) == 1 else 'were'} unexpected)"
        )


def _refuse_unhonoured(item: dict[str, Any]) -> None:
    """What this cloud cannot make: a 400 naming it (Nova's hosts may, ours do not)."""
    if item.get("connection_info") is not None:
        raise unsupported("connection_info in a block device mapping")
    if item.get("tag") is not None:
        raise unsupported("Tagging a block device (tag)")
    if item.get("guest_format") is not None:
        raise unsupported(f"guest_format {item['guest_format']!r} (ephemeral and swap disks)")
    if item.get("device_type") not in (None, "disk"):
        raise unsupported(f"device_type {item['device_type']!r} (only 'disk')")
    if item.get("disk_bus") not in (None, "virtio"):
        raise unsupported(f"disk_bus {item['disk_bus']!r} (only 'virtio')")
    if item.get("virtual_name"):
        raise unsupported(f"virtual_name {item['virtual_name']!r} (ephemeral and swap disks)")


def _list(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value!r}. {value!r} is not of type 'array'")
    for item in value:
        if not isinstance(item, dict):
            raise BadRequest(
                f"Invalid input for field/attribute {key}. Value: {item!r}. {item!r} is not of type 'object'"
            )
    return value


def _from_v2(item: dict[str, Any], image_given: bool) -> Mapping | None:
    _unknown(item, V2_FIELDS, "block_device_mapping_v2")
    if item.get("no_device"):
        return None  # "no device here": there is nothing to make
    source = item.get("source_type")
    dest = item.get("destination_type") or "local"
    device_uuid = item.get("uuid")
    if source is None:
        raise invalid("Some required fields are missing")
    if source not in SOURCES:
        raise BadRequest(
            f"Invalid input for field/attribute source_type. Value: {source}. "
            f"{source!r} is not one of {list(SOURCES)!r}"
        )
    if dest not in DESTINATIONS:
        raise BadRequest(
            f"Invalid input for field/attribute destination_type. Value: {dest}. "
            f"{dest!r} is not one of {list(DESTINATIONS)!r}"
        )
    if source == "blank" and device_uuid:
        raise invalid("Invalid device UUID.")
    if source != "blank" and not device_uuid:
        raise invalid("Missing device UUID.")
    if device_uuid is not None and not isinstance(device_uuid, str):
        raise BadRequest(f"Invalid input for field/attribute uuid. Value: {device_uuid!r}.")
    boot = _boot_index(item.get("boot_index"))
    if source == "image" and dest == "local" and not (image_given and boot == 0):
        raise invalid("Mapping image to local is not supported.")
    volume_type = item.get("volume_type")
    if dest == "local" and volume_type:
        raise invalid("Specifying a volume_type with destination_type=local is not supported.")
    if source == "volume" and volume_type:
        raise invalid("Specifying volume type to existing volume is not supported.")
    _refuse_unhonoured(item)
    if source == "blank" and dest == "local":
        raise unsupported("An ephemeral or swap disk (source_type=blank, destination_type=local)")
    if source in ("volume", "snapshot") and dest == "local":
        raise unsupported(f"A {source} mapped to destination_type=local")
    return Mapping(
        source_type=source,
        destination_type=dest,
        uuid=device_uuid,
        boot_index=boot,
        volume_size=_size(item.get("volume_size")),
        delete_on_termination=_bool(item.get("delete_on_termination", False), "delete_on_termination"),
        device_name=_device_name(item.get("device_name")),
        volume_type=volume_type if isinstance(volume_type, str) and volume_type else None,
    )


def _from_legacy(item: dict[str, Any], image_given: bool) -> Mapping | None:
    """Nova's ``from_legacy`` plus ``from_legacy_mapping``'s root rule: the mapping on the
    root device (``vda``) boots; with no ``imageRef`` the first non-blank one does."""
    _unknown(item, LEGACY_FIELDS, "block_device_mapping")
    if item.get("no_device"):
        return None
    _refuse_unhonoured(item)
    device = _device_name(item.get("device_name"))
    for key in ("snapshot_id", "volume_id"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: {item[key]!r}.")
    if item.get("snapshot_id"):
        source, uuid = "snapshot", item["snapshot_id"]
    elif item.get("volume_id"):
        source, uuid = "volume", item["volume_id"]
    else:
        raise invalid("Unrecognized legacy format.")
    return Mapping(
        source_type=source,
        destination_type="volume",
        uuid=uuid,
        boot_index=0 if device is not None and device == ROOT_DEVICE else None,
        volume_size=_size(item.get("volume_size")),
        delete_on_termination=_bool(item.get("delete_on_termination", False), "delete_on_termination"),
        device_name=device,
    )


def parse(body: dict[str, Any]) -> list[Mapping]:
    """The server create request's block device mappings (``[]`` if it names none).

    Raises ``BadRequest`` with Nova's text for a malformed mapping, a boot sequence that is
    not 0, 1, 2..., and for what this cloud cannot make."""
    legacy = _list(body, "block_device_mapping")
    v2 = _list(body, "block_device_mapping_v2")
    if legacy and v2:
        raise BadRequest("Using different block_device_mapping syntaxes is not allowed in the same request.")
    image_given = body.get("imageRef") not in (None, "")
    if v2:
        mappings = [m for m in (_from_v2(dict(item), image_given) for item in v2) if m is not None]
    elif legacy:
        mappings = [m for m in (_from_legacy(dict(item), image_given) for item in legacy) if m is not None]
        if not image_given and mappings and not any(m.is_root for m in mappings):
            first = mappings[0]  # no root device named and no image: the first one boots
            mappings[0] = Mapping(**{**first.to_json(), "boot_index": 0})
        if image_given and not any(m.is_root for m in mappings):
            return mappings  # the image is the root disk; these are extra volumes
    else:
        return []
    boots = sorted(m.boot_index for m in mappings if m.boot_index is not None)
    if not boots or any(i != v for i, v in enumerate(boots)):
        raise boot_sequence_invalid()
    if len(boots) > 1:
        raise unsupported("Booting from more than one device (boot_index above 0)")
    root = next(m for m in mappings if m.is_root)
    if image_given and root.source_type == "image" and root.destination_type == "local":
        image_ref = str(body["imageRef"]).rstrip("/").rsplit("/", 1)[-1]
        if root.uuid != image_ref:
            raise invalid(f"the boot mapping's image {root.uuid} is not imageRef {body['imageRef']}.")
    if image_given and root.destination_type == "volume":
        for m in mappings:
            if m.destination_type == "volume" and m.device_name == ROOT_DEVICE and not m.is_root:
                raise BadRequest(f"The volume cannot be assigned the same device name as the root device {ROOT_DEVICE}")
    for m in mappings:
        if m.source_type == "image" and m.destination_type == "volume" and not m.volume_size:
            raise BadRequest("Images with destination_type 'volume' need to have a non-zero size specified")
        if m.source_type == "blank" and m.destination_type == "volume" and not m.volume_size:
            raise BadRequest("Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size")
    return mappings


def root_of(mappings: list[Mapping]) -> Mapping | None:
    return next((m for m in mappings if m.is_root), None)


def volume_mappings(mappings: list[Mapping]) -> list[Mapping]:
    """The mappings that end as volumes, the root first."""
    return sorted((m for m in mappings if m.destination_type == "volume"), key=lambda m: not m.is_root)
