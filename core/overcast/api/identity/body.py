"""Request parsing for the identity API, with Keystone's 400 messages.

Handlers take the JSON body as ``body: Any = Body(None)`` (FastAPI answers malformed JSON
with 400) and read it through these helpers, which check the envelope and each field's
type. Unknown fields of users are kept (Keystone stores them as extra attributes); others
are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from overcast.errors import BadRequest
from overcast.validation import check_body_text

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def invalid(field: str, what: str) -> BadRequest:
    return BadRequest(f"Invalid input for field '{field}': {what}")


def entity(body: Any, key: str) -> dict[str, Any]:
    """The object under ``key`` (``{"project": {...}}``)."""
    if not isinstance(body, Mapping):
        raise BadRequest(f"Expecting to find {key} in request body; the body must be a JSON object.")
    value = body.get(key)
    if not isinstance(value, Mapping):
        raise invalid(key, f"'{key}' is a required property and must be an object.")
    check_body_text(value)
    return dict(value)


def string(
    obj: Mapping[str, Any], field: str, required: bool = False, nullable: bool = True, max_len: int = 255
) -> str | None:
    if field not in obj:
        if required:
            raise invalid(field, f"'{field}' is a required property.")
        return None
    value = obj[field]
    if value is None:
        if required or not nullable:
            raise invalid(field, "None is not of type 'string'.")
        return None
    if not isinstance(value, str):
        raise invalid(field, f"{value!r} is not of type 'string'.")
    if required and not value.strip():
        raise invalid(field, "'' is too short.")
    if len(value) > max_len:
        raise invalid(field, f"longer than {max_len} characters.")
    return value


def boolean(obj: Mapping[str, Any], field: str) -> bool | None:
    if field not in obj:
        return None
    value = obj[field]
    if not isinstance(value, bool):
        raise invalid(field, f"{value!r} is not of type 'boolean'.")
    return value


def string_list(obj: Mapping[str, Any], field: str) -> list[str] | None:
    if field not in obj or obj[field] is None:
        return None
    value = obj[field]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(field, f"{value!r} is not a list of strings.")
    return value


def query_bool(value: str | None, field: str) -> bool | None:
    """A boolean filter as Keystone reads it (``?enabled=false``); a bare ``?enabled`` is true."""
    if value is None:
        return None
    low = value.strip().lower()
    if low in _TRUE or low == "":
        return True
    if low in _FALSE:
        return False
    raise invalid(field, f"{value!r} is not a boolean.")


def changes(
    obj: Mapping[str, Any], fields: Mapping[str, str], long_text: tuple[str, ...] = ("description",)
) -> dict[str, Any]:
    """Validated values of ``fields`` (name -> "str" | "bool" | "list") present in ``obj``."""
    out: dict[str, Any] = {}
    for name, kind in fields.items():
        if name not in obj:
            continue
        if kind == "str":
            out[name] = string(obj, name, max_len=65535 if name in long_text else 255)
        elif kind == "name":
            out[name] = string(obj, name, required=True)
        elif kind == "bool":
            out[name] = boolean(obj, name)
        elif kind == "list":
            out[name] = string_list(obj, name)
    return out
