"""Image rows <-> Glance's wire shape, and validation of the attributes callers send."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from overcast.db.models.image import Image, ImageProperty, ImageTag
from overcast.errors import BadRequest, Forbidden
from overcast.image import constants as c
from overcast.types import ImageRef


def iso(ts: datetime | None) -> str | None:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


def to_view(image: Image) -> dict[str, Any]:
    """The bare Glance v2 image object (no envelope); custom properties at the top level."""
    view: dict[str, Any] = {p.name: p.value for p in image.properties}
    view.update(
        {
            "id": image.id,
            "name": image.name,
            "status": image.status,
            "visibility": image.visibility,
            "protected": image.protected,
            "os_hidden": image.os_hidden,
            "checksum": image.checksum,
            "os_hash_algo": image.os_hash_algo,
            "os_hash_value": image.os_hash_value,
            "owner": image.owner,
            "size": image.size,
            "virtual_size": image.virtual_size,
            "min_ram": image.min_ram,
            "min_disk": image.min_disk,
            "disk_format": image.disk_format,
            "container_format": image.container_format,
            "created_at": iso(image.created_at),
            "updated_at": iso(image.updated_at),
            "tags": sorted(t.value for t in image.tags),
            "self": f"/v2/images/{image.id}",
            "file": f"/v2/images/{image.id}/file",
            "schema": "/v2/schemas/image",
        }
    )
    if image.locations:
        view["stores"] = ",".join(sorted({loc.store for loc in image.locations}))
    return view


def to_ref(image: Image | Row[Any], properties: dict[str, str] | None = None) -> ImageRef:
    """The contract's description of an image, for compute and drivers (``properties``:
    the image's, when the caller read them without loading the relationship; ``image``
    may then be a row of the columns read)."""
    return ImageRef(
        id=image.id,
        name=image.name or "",
        disk_format=image.disk_format or "raw",
        container_format=image.container_format or "bare",
        size=image.size or 0,
        checksum=image.checksum or "",
        os_hash_algo=image.os_hash_algo or "",
        os_hash_value=image.os_hash_value or "",
        min_disk=image.min_disk,
        min_ram=image.min_ram,
        properties=properties if properties is not None else {p.name: p.value for p in image.properties},
    )


# --- validation of what callers send ------------------------------------------------------


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"Invalid value for '{name}': {value!r} is not a non-negative integer.")
    if value > 2**31 - 1:
        raise BadRequest(f"Invalid value for '{name}': {value!r} is too large.")
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"Invalid value for '{name}': {value!r} is not a boolean.")
    return value


def _choice(name: str, value: Any, choices: tuple[str, ...], nullable: bool = True) -> str | None:
    if value is None and nullable:
        return None
    if value not in choices:
        raise BadRequest(f"Invalid value for '{name}': {value!r}. Valid values are: {', '.join(choices)}.")
    return value


def validate_attribute(name: str, value: Any) -> Any:
    """Check one core attribute's value; returns the value to store."""
    if name == "name":
        if value is not None and (not isinstance(value, str) or len(value) > c.MAX_NAME):
            raise BadRequest(f"Invalid value for 'name': must be a string of at most {c.MAX_NAME} characters.")
        return value
    if name in ("min_disk", "min_ram"):
        return _int(name, value)
    if name in ("protected", "os_hidden"):
        return _bool(name, value)
    if name == "visibility":
        return _choice(name, value, c.VISIBILITIES, nullable=False)
    if name == "disk_format":
        return _choice(name, value, c.DISK_FORMATS)
    if name == "container_format":
        return _choice(name, value, c.CONTAINER_FORMATS)
    if name == "owner":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise BadRequest("Invalid value for 'owner': must be a string of at most 255 characters.")
        return value
    if name == "tags":
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise BadRequest("Invalid value for 'tags': must be a list of strings.")
        for tag in value:
            validate_tag(tag)
        return sorted(set(value))
    raise BadRequest(f"Attribute '{name}' is not settable.")


def validate_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not tag or len(tag) > 255:
        raise BadRequest("Invalid tag: must be a string of 1 to 255 characters.")
    return tag


def validate_property(name: str, value: Any) -> str:
    """Custom properties are strings (Glance stores them as such)."""
    if not isinstance(name, str) or not name or len(name) > 255:
        raise BadRequest("Invalid property name: must be 1 to 255 characters.")
    if name.startswith(c.RESERVED_PREFIX):
        raise Forbidden(f"Attribute '{name}' is reserved.")
    if name in c.RESERVED:
        raise (
            BadRequest(f"Attribute '{name}' is read-only.")
            if name in c.READ_ONLY
            else BadRequest(f"Attribute '{name}' is reserved.")
        )
    if not isinstance(value, str):
        raise BadRequest(f"Invalid value for property '{name}': must be a string.")
    if len(value) > c.MAX_PROPERTY_VALUE:
        raise BadRequest(f"Invalid value for property '{name}': longer than {c.MAX_PROPERTY_VALUE} characters.")
    return value


def split_body(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A create request -> (core attributes, custom properties), validated."""
    core: dict[str, Any] = {}
    props: dict[str, str] = {}
    for key, value in body.items():
        if key in c.SETTABLE:
            core[key] = validate_attribute(key, value)
        elif key == "id":
            try:
                core["id"] = str(uuid.UUID(value)) if isinstance(value, str) and len(value) == 36 else None
            except ValueError:
                core["id"] = None
            if core["id"] is None:
                raise BadRequest("Invalid value for 'id': must be a UUID.")
        elif key in c.READ_ONLY:
            raise BadRequest(f"Attribute '{key}' is read-only.")
        else:
            props[key] = validate_property(key, value)
    return core, props


def set_properties(image: Image, props: Mapping[str, str]) -> None:
    current = {p.name: p for p in image.properties}
    for name, value in props.items():
        if name in current:
            current[name].value = value
        else:
            image.properties.append(ImageProperty(name=name, value=value))


def remove_property(image: Image, name: str) -> bool:
    for prop in image.properties:
        if prop.name == name:
            image.properties.remove(prop)
            return True
    return False


def set_tags(image: Image, tags: list[str]) -> None:
    wanted = set(tags)
    for tag in list(image.tags):
        if tag.value not in wanted:
            image.tags.remove(tag)
    have = {t.value for t in image.tags}
    for value in sorted(wanted - have):
        image.tags.append(ImageTag(value=value))
