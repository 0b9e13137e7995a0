"""Glance's JSON-patch updates (``application/openstack-images-v2.1-json-patch``).

Operations ``add``, ``replace`` and ``remove`` on ``/<attribute>`` paths: core attributes
(name, visibility, protected, min_disk, ...), ``/tags``, or custom properties. ``add`` sets a
property whether or not it exists; ``replace`` and ``remove`` need it to exist (409
otherwise). Read-only attributes answer 403. Either every operation applies or none does:
the caller runs this inside one database session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from overcast.context import RequestContext
from overcast.db.models.image import Image
from overcast.errors import BadRequest, Conflict, Forbidden
from overcast.image import constants as c
from overcast.image import records
from overcast.image.access import check_rule

OPS = ("add", "replace", "remove")


def _attribute(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/") or path.count("/") != 1 or path == "/":
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    return path[1:].replace("~1", "/").replace("~0", "~")


def parse(body: Any) -> list[tuple[str, str, Any]]:
    """Validate the request body: a list of ``{"op", "path", "value"}`` objects."""
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operations.")
    ops = []
    for item in body:
        if not isinstance(item, Mapping):
            raise BadRequest("Operations must be JSON objects.")
        op = item.get("op")
        if op not in OPS:
            raise BadRequest(f"Operation {op!r} is not supported; use one of: {', '.join(OPS)}.")
        name = _attribute(item.get("path"))
        if op != "remove" and "value" not in item:
            raise BadRequest(f"Operation '{op}' on '{name}' needs a 'value'.")
        ops.append((op, name, item.get("value")))
    return ops


def apply(ctx: RequestContext, image: Image, ops: Sequence[tuple[str, str, Any]]) -> None:
    """Apply parsed operations to ``image`` (an ORM row in an open session)."""
    for op, name, value in ops:
        if name in c.READ_ONLY or name in ("id", "locations"):
            raise Forbidden(f"Attribute '{name}' is read-only.")
        if name in c.SETTABLE:
            _apply_core(ctx, image, op, name, value)
        else:
            _apply_property(image, op, name, value)


def _apply_core(ctx: RequestContext, image: Image, op: str, name: str, value: Any) -> None:
    if op == "remove":
        if name == "tags":
            records.set_tags(image, [])
            return
        raise Forbidden(f"Attribute '{name}' is reserved and cannot be removed.")
    value = records.validate_attribute(name, value)
    if name in c.LOCKED_AFTER_UPLOAD and image.status != c.QUEUED and value != getattr(image, name):
        raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")
    if name == "owner" and value != image.owner and not ctx.is_admin:
        raise Forbidden("You are not permitted to modify 'owner' on this image.")
    if name == "visibility" and value == "public" and image.visibility != "public":
        check_rule(ctx, "image:images:publicize", "publicize images")
    if name == "tags":
        records.set_tags(image, value)
    else:
        setattr(image, name, value)


def _apply_property(image: Image, op: str, name: str, value: Any) -> None:
    if name.startswith(c.RESERVED_PREFIX):
        raise Forbidden(f"Attribute '{name}' is reserved.")
    exists = any(p.name == name for p in image.properties)
    if op == "remove":
        if not records.remove_property(image, name):
            raise Conflict(f"Property {name} does not exist.")
        return
    if op == "replace" and not exists:
        raise Conflict(f"Property {name} does not exist.")
    records.set_properties(image, {name: records.validate_property(name, value)})
