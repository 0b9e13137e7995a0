"""JSON schemas Glance publishes at ``/v2/schemas/...`` (clients use them for help text
and validation). Only the properties we serve are listed; extra properties are strings."""

from __future__ import annotations

from typing import Any

from overcast.errors import NotFound
from overcast.image import constants as c

_STR = {"type": ["null", "string"]}
_IMAGE_PROPERTIES: dict[str, Any] = {
    "id": {
        "type": "string",
        "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$",
    },
    "name": {"type": ["null", "string"], "maxLength": 255},
    "status": {"type": "string", "readOnly": True, "enum": list(c.STATUSES)},
    "visibility": {"type": "string", "enum": list(c.VISIBILITIES)},
    "protected": {"type": "boolean"},
    "os_hidden": {"type": "boolean"},
    "checksum": {**_STR, "readOnly": True},
    "os_hash_algo": {**_STR, "readOnly": True},
    "os_hash_value": {**_STR, "readOnly": True},
    "owner": {**_STR, "readOnly": True},
    "size": {"type": ["null", "integer"], "readOnly": True},
    "virtual_size": {"type": ["null", "integer"], "readOnly": True},
    "container_format": {"type": ["null", "string"], "enum": [None, *c.CONTAINER_FORMATS]},
    "disk_format": {"type": ["null", "string"], "enum": [None, *c.DISK_FORMATS]},
    "created_at": {"type": "string", "readOnly": True},
    "updated_at": {"type": "string", "readOnly": True},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
    "min_ram": {"type": "integer"},
    "min_disk": {"type": "integer"},
    "self": {"type": "string", "readOnly": True},
    "file": {"type": "string", "readOnly": True},
    "schema": {"type": "string", "readOnly": True},
    "stores": {"type": "string", "readOnly": True},
}
_IMAGE = {
    "name": "image",
    "properties": _IMAGE_PROPERTIES,
    "additionalProperties": {"type": "string"},
    "links": [
        {"rel": "self", "href": "{self}"},
        {"rel": "enclosure", "href": "{file}"},
        {"rel": "describedby", "href": "{schema}"},
    ],
}
_MEMBER = {
    "name": "member",
    "properties": {
        "image_id": {"type": "string"},
        "member_id": {"type": "string"},
        "status": {"type": "string", "enum": list(c.MEMBER_STATUSES)},
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
        "schema": {"type": "string", "readOnly": True},
    },
}


def schema(name: str) -> dict[str, Any]:
    if name == "image":
        return _IMAGE
    if name == "images":
        return {
            "name": "images",
            "properties": {
                "images": {"type": "array", "items": _IMAGE},
                "schema": {"type": "string"},
                "first": {"type": "string"},
                "next": {"type": "string"},
            },
        }
    if name == "member":
        return _MEMBER
    if name == "members":
        return {
            "name": "members",
            "properties": {"members": {"type": "array", "items": _MEMBER}, "schema": {"type": "string"}},
        }
    raise NotFound(f"Schema {name} not found.")
