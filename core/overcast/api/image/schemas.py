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


_TIMES = {"created_at": {"type": "string", "readOnly": True}, "updated_at": {"type": "string", "readOnly": True}}
_PROPERTY_DEF: dict[str, Any] = {
    "type": "object",
    "required": ["title", "type"],
    "properties": {
        "name": {"type": "string", "maxLength": 255},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "type": {"type": "string", "enum": ["array", "boolean", "integer", "number", "object", "string", None]},
        "enum": {"type": "array"},
        "default": {},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "minLength": {"type": "integer", "minimum": 0},
        "maxLength": {"type": "integer", "minimum": 0},
        "pattern": {"type": "string", "format": "regex"},
        "items": {"type": "object"},
        "minItems": {"type": "integer", "minimum": 0},
        "maxItems": {"type": "integer", "minimum": 0},
        "uniqueItems": {"type": "boolean"},
        "readonly": {"type": "boolean"},
        "operators": {"type": "array", "items": {"type": "string"}},
    },
}
_ASSOCIATION = {
    "name": "resource_type_association",
    "properties": {
        "name": {"type": "string", "maxLength": 80},
        "prefix": {"type": "string", "maxLength": 80},
        "properties_target": {"type": "string", "maxLength": 80},
        **_TIMES,
    },
    "required": ["name"],
    "additionalProperties": False,
}
_OBJECT = {
    "name": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 80},
        "description": {"type": "string"},
        "required": {"type": "array", "items": {"type": "string"}},
        "properties": {"type": "object", "additionalProperties": _PROPERTY_DEF},
        "schema": {"type": "string", "readOnly": True},
        "self": {"type": "string", "readOnly": True},
        **_TIMES,
    },
    "required": ["name"],
    "additionalProperties": False,
}
_TAG = {
    "name": "tag",
    "properties": {"name": {"type": "string", "maxLength": 255}, **_TIMES},
    "required": ["name"],
    "additionalProperties": False,
}
_PROPERTY = {"name": "property", **_PROPERTY_DEF, "required": ["name", "title", "type"], "additionalProperties": False}
_NAMESPACE = {
    "name": "namespace",
    "properties": {
        "namespace": {"type": "string", "maxLength": 80},
        "display_name": {"type": "string", "maxLength": 80},
        "description": {"type": "string", "maxLength": 500},
        "visibility": {"type": "string", "enum": ["public", "private"]},
        "protected": {"type": "boolean"},
        "owner": {"type": "string", "maxLength": 255},
        "self": {"type": "string", "readOnly": True},
        "schema": {"type": "string", "readOnly": True},
        "resource_type_associations": {"type": "array", "items": _ASSOCIATION},
        "properties": {"type": "object", "additionalProperties": _PROPERTY_DEF},
        "objects": {"type": "array", "items": _OBJECT},
        "tags": {"type": "array", "items": _TAG},
        **_TIMES,
    },
    "required": ["namespace"],
    "additionalProperties": False,
}


def _collection(name: str, key: str, item: dict[str, Any], paged: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {key: {"type": "array", "items": item}, "schema": {"type": "string"}}
    if paged:
        props.update(first={"type": "string"}, next={"type": "string"})
    return {"name": name, "properties": props}


def metadef_schema(name: str) -> dict[str, Any]:
    """The schemas of the metadata definitions catalog (``/v2/schemas/metadefs/...``)."""
    schemas: dict[str, dict[str, Any]] = {
        "namespace": _NAMESPACE,
        "namespaces": _collection("namespaces", "namespaces", _NAMESPACE, paged=True),
        "resource_type": _ASSOCIATION,
        "resource_types": _collection("resource_type_associations", "resource_type_associations", _ASSOCIATION),
        "object": _OBJECT,
        "objects": _collection("objects", "objects", _OBJECT, paged=True),
        "property": _PROPERTY,
        "properties": {
            "name": "properties",
            "properties": {"properties": {"type": "object", "additionalProperties": _PROPERTY_DEF}},
        },
        "tag": _TAG,
        "tags": _collection("tags", "tags", _TAG, paged=True),
    }
    if name not in schemas:
        raise NotFound(f"Schema metadefs/{name} not found.")
    return schemas[name]


_TASK = {
    "name": "task",
    "properties": {
        "id": {"type": "string", "readOnly": True},
        "type": {"type": "string", "enum": ["import", "api_image_import"]},
        "status": {"type": "string", "readOnly": True, "enum": ["pending", "processing", "success", "failure"]},
        "input": {"type": ["null", "object"]},
        "result": {"type": ["null", "object"], "readOnly": True},
        "owner": {"type": ["null", "string"], "readOnly": True},
        "message": {"type": "string", "readOnly": True},
        "image_id": {"type": ["null", "string"], "readOnly": True},
        "request_id": {"type": ["null", "string"], "readOnly": True},
        "user_id": {"type": ["null", "string"], "readOnly": True},
        "expires_at": {"type": ["null", "string"], "readOnly": True},
        "self": {"type": "string", "readOnly": True},
        "schema": {"type": "string", "readOnly": True},
        **_TIMES,
    },
}


def schema(name: str) -> dict[str, Any]:
    if name == "task":
        return _TASK
    if name == "tasks":
        return _collection("tasks", "tasks", _TASK, paged=True)
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
