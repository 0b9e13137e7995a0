"""Strict parsing of Octavia request bodies, with WSME's error texts: every attribute is
known, of its type and within its range, or the request is refused and nothing changes."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from overcast.loadbalancer.errors import invalid
from overcast.validation import check_body_text


@dataclass(frozen=True)
class Spec:
    kind: str  # str | int | bool | dict | list | ip | uuid | float
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = True
    max_length: int = 255


NAME = Spec("str")
DESCRIPTION = Spec("str")
ADMIN = Spec("bool", nullable=False)
TAGS = Spec("list")
UUID = Spec("uuid")
PORT = Spec("int", minimum=1, maximum=65535, nullable=False)
COMMON = {"name": NAME, "description": DESCRIPTION, "admin_state_up": ADMIN, "tags": TAGS}
OWNER = {"project_id": Spec("str", max_length=64), "tenant_id": Spec("str", max_length=64)}


def unwrap(body: Any, key: str) -> dict[str, Any]:
    """``{"<key>": {...}}`` -> the inner object."""
    check_body_text(body)
    if not isinstance(body, dict) or set(body) != {key} or not isinstance(body[key], dict):
        raise invalid(key, body, f'Missing argument: "{key}"')
    return dict(body[key])


def _check(field: str, value: Any, spec: Spec) -> Any:
    if value is None:
        if spec.nullable:
            return None
        raise invalid(field, value, "Value should not be null")
    kind = spec.kind
    value = _coerce(kind, value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise invalid(field, value, "Wrong type. Expected '<class 'bool'>', got '%s'" % type(value))
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(field, value, "Wrong type. Expected '<class 'int'>', got '%s'" % type(value))
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid(field, value, "Wrong type. Expected '<class 'float'>', got '%s'" % type(value))
    elif kind in ("str", "uuid", "ip"):
        if not isinstance(value, str):
            raise invalid(field, value, "Wrong type. Expected '<class 'str'>', got '%s'" % type(value))
        if len(value) > spec.max_length:
            raise invalid(field, value, f"Value should have a maximum character requirement of {spec.max_length}")
        if kind == "uuid" and not _is_uuid(value):
            raise invalid(field, value, "Value should be UUID format")
        if kind == "ip":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise invalid(field, value, "Value should be IPv4 or IPv6 format") from None
    elif kind == "dict":
        if not isinstance(value, dict):
            raise invalid(field, value, "Wrong type. Expected '<class 'dict'>', got '%s'" % type(value))
    elif kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(field, value, "Wrong type. Expected a list of strings")
    if spec.choices is not None and value not in spec.choices:
        raise invalid(field, value, f"Value should be one of: {', '.join(str(c) for c in spec.choices)}")
    if spec.minimum is not None and value < spec.minimum:
        raise invalid(field, value, f"Value should be greater or equal to {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise invalid(field, value, f"Value should be lower or equal to {spec.maximum:g}")
    return value


def _coerce(kind: str, value: Any) -> Any:
    """WSME converts numeric and boolean text to the declared type (clients send some
    numbers as strings, e.g. octaviaclient's ``connection_limit``)."""
    if isinstance(value, str):
        text = value.strip()
        if kind == "int" and text.lstrip("-").isdigit():
            return int(text)
        if kind == "float":
            try:
                return float(text)
            except ValueError:
                return value
        if kind == "bool" and text.lower() in ("true", "false"):
            return text.lower() == "true"
    return value


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def parse(
    key: str, values: dict[str, Any], specs: Mapping[str, Spec], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Check ``values`` against ``specs``: unknown attributes, missing mandatory ones, types."""
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise invalid(key, values, f"Unknown attribute for argument {key}: {', '.join(unknown)}")
    for name in required:
        if values.get(name) is None:
            raise invalid(name, "Unset", "Mandatory field missing.")
    return {name: _check(name, value, specs[name]) for name, value in values.items()}
