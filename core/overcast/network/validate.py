"""Input checks for request bodies, with Neutron's error types (``InvalidInput``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from overcast.errors import BadRequest

MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


def invalid(field: str, value: Any, reason: str) -> BadRequest:
    return BadRequest(f"Invalid input for {field}. Reason: {reason}", code="InvalidInput")


def body_of(body: Any, key: str) -> dict[str, Any]:
    """The resource object inside ``{"<key>": {...}}``."""
    if not isinstance(body, Mapping) or not isinstance(body.get(key), Mapping):
        raise BadRequest(f"Resource body required: expected an object under '{key}'.", code="BadRequest")
    return dict(body[key])


def only(values: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'", code="HTTPBadRequest")


def string(values: Mapping[str, Any], field: str, default: str = "", max_len: int = 255) -> str:
    value = values.get(field, default)
    if value is None:
        value = default
    if not isinstance(value, str):
        raise invalid(field, value, f"'{value}' is not a valid string")
    if len(value) > max_len:
        raise invalid(field, value, f"'{value[:20]}...' exceeds maximum length of {max_len}")
    return value


def boolean(values: Mapping[str, Any], field: str, default: bool) -> bool:
    value = values.get(field, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid(field, value, f"'{value}' cannot be converted to boolean")


def integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise invalid(field, value, f"'{value}' is not an integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(field, value, f"'{value}' is not an integer") from None
    if not low <= number <= high:
        raise invalid(field, value, f"'{number}' is not in range {low} through {high}")
    return number


def mac(value: Any, field: str = "mac_address") -> str:
    if not isinstance(value, str) or not MAC_RE.match(value.lower()):
        raise invalid(field, value, f"'{value}' is not a valid MAC address")
    if int(value.split(":")[0], 16) & 1:
        raise invalid(field, value, f"'{value}' is a multicast MAC address")
    return value.lower()


def string_list(values: Mapping[str, Any], field: str) -> list[str]:
    value = values.get(field, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(field, value, f"'{value}' is not a list of strings")
    return value
