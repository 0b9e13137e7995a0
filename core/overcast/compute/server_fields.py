"""The fields of a server request (create, update, rebuild): each one parsed and checked, or
refused with Nova's error; nothing in a request is dropped unread."""

from __future__ import annotations

import base64
import binascii
import uuid as uuidlib
from datetime import datetime
from typing import Any, NoReturn

from overcast.errors import BadRequest

MAX_USER_DATA = 65535

#: the scheduler hints this scheduler honours (every other one is refused, never dropped)
HONOURED_HINTS = frozenset({"group", "same_host", "different_host"})
#: the hints kept on the server for the scheduler: server ids whose hosts to keep or avoid
HOST_HINTS = ("same_host", "different_host")


def group_hint(hints: Any) -> str | None:
    """The server group named by the request's scheduler hints. Hints no filter here
    honours (``same_host``, ``query``...) are a 400, so a request never silently loses one."""
    if hints is None:
        return None
    if not isinstance(hints, dict):
        raise BadRequest(
            f"Invalid input for field/attribute os:scheduler_hints. Value: {hints!r}. {hints!r} is not of type 'object'"
        )
    unknown = sorted(set(hints) - HONOURED_HINTS)
    if unknown:
        raise BadRequest(f"Scheduler hint(s) not supported by this cloud: {', '.join(unknown)}.")
    group = hints.get("group")
    if group is not None and (not isinstance(group, str) or not group):
        raise BadRequest(f"Invalid input for field/attribute group. Value: {group!r}. {group!r} is not a 'uuid'")
    return group


def host_hints(hints: Any) -> dict[str, list[str]] | None:
    """``same_host`` / ``different_host``: a server id or a list of them (Nova's schema)."""
    if not isinstance(hints, dict):
        return None
    out: dict[str, list[str]] = {}
    for key in HOST_HINTS:
        if key not in hints:
            continue
        value = hints[key]
        ids = [value] if isinstance(value, str) else value
        if not isinstance(ids, list) or not all(isinstance(i, str) and is_uuid(i) for i in ids):
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value!r}. {value!r} is not a 'uuid'")
        out[key] = list(ids)
    return out or None


def is_uuid(value: str) -> bool:
    try:
        uuidlib.UUID(value)
    except ValueError:
        return False
    return True


def no_arguments(action: str, args: Any) -> None:
    """An action that takes nothing: ``null`` or an empty object (what Tempest and the clients
    send); anything in it is refused, never ignored."""
    if args is not None and args != {}:
        raise BadRequest(f"Invalid input for field/attribute {action}. Value: {args!r}. {args!r} is not of type 'null'")


def text_field(value: Any, field: str, max_len: int = 255, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > max_len or (not allow_empty and not value.strip()):
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value!r}.")
    return value


def metadata_field(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):  # how many items: the project's metadata_items quota (403)
        raise BadRequest("Invalid input for field/attribute metadata.")
    for k, v in value.items():
        if not isinstance(k, str) or not 1 <= len(k) <= 255 or not isinstance(v, str) or len(v) > 255:
            raise BadRequest(f"Invalid input for field/attribute metadata. Value: {k!r}.")
    return dict(value)


def user_data_field(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_USER_DATA:
        raise BadRequest("Invalid input for field/attribute user_data.")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("User data needs to be valid base 64.") from None
    return value


#: Nova's parameter_types.boolean spellings.
_BOOLEANS = {"true": True, "1": True, "on": True, "yes": True, "false": False, "0": False, "off": False, "no": False}


def config_drive_field(value: Any) -> bool:
    """The ``config_drive`` flag, validated (drivers that make config drives attach one when
    it is set, and also when the server has user data)."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in _BOOLEANS:
        return _BOOLEANS[value.lower()]
    raise BadRequest(f"Invalid input for field/attribute config_drive. Value: {value!r}.")


def access_ip(value: Any, version: int) -> str:
    """``accessIPv4``/``accessIPv6`` as Nova stores them: empty, or the address in its
    normalised form (``::babe:dc0c:1602`` for ``0000:0000:0000:0000:0000:babe:220.12.22.2``)."""
    import ipaddress

    field = f"accessIPv{version}"
    if value is None or value == "":
        return ""
    kind = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    try:
        return str(kind(value)) if isinstance(value, str) else _bad_ip(field, value)
    except ValueError:
        return _bad_ip(field, value)


def _bad_ip(field: str, value: Any) -> NoReturn:
    kind = "IPv4" if field.endswith("4") else "IPv6"
    raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. '{value}' is not a '{kind.lower()}'")


def server_count(body: dict) -> tuple[int, int]:
    """``(min_count, max_count)`` of a multiple create (Nova's rules: integers from 1, min <= max)."""
    counts = []
    for field in ("min_count", "max_count"):
        value = body.get(field, 1)
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if isinstance(value, bool) or isinstance(value, float) or number < 1:
            raise BadRequest(
                f"Invalid input for field/attribute {field}. Value: {value}. {value!r} is not a valid value for {field}"
            )
        counts.append(number)
    if "max_count" not in body:
        counts[1] = counts[0]
    if counts[0] > counts[1]:
        raise BadRequest("min_count must be <= max_count")
    return counts[0], counts[1]


def admin_password(body: dict) -> str:
    """The ``adminPass`` given, else a generated one (Nova returns it from create)."""
    from overcast.passwords import new_password

    value = body.get("adminPass")
    if value is None:
        return new_password(9)
    if not isinstance(value, str):
        raise BadRequest(f"Invalid input for field/attribute adminPass. Value: {value!r}.")
    return value


def parse_networks(value: Any) -> list:
    """``networks``: "none", "auto", or a list of ``{uuid|port[, fixed_ip]}``."""
    if value is None or value == "auto":
        return ["auto"]
    if value == "none":
        return ["none"]
    if not isinstance(value, list):
        raise BadRequest("Invalid input for field/attribute networks.")
    out = []
    for item in value:
        if not isinstance(item, dict) or not (item.get("uuid") or item.get("port")):
            raise BadRequest("Invalid input for field/attribute networks: each needs a uuid or a port.")
        out.append({k: item[k] for k in ("uuid", "port", "fixed_ip", "tag") if item.get(k)})
    return out


def create_tags(value: Any) -> list[str]:
    """``tags`` at create (2.52; the API refuses them before): at most 50 valid tags."""
    from overcast.compute.tags import MAX_TAGS, check_tag

    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise BadRequest(f"Invalid input for field/attribute tags: at most {MAX_TAGS} tags.")
    return sorted({check_tag(t) for t in value})


def refuse_trusted_certificates(body: dict) -> None:
    """``trusted_image_certificates`` (2.63): image signature and certificate validation is not
    done here, so a list of certificates is refused rather than taken and not checked."""
    certs = body.get("trusted_image_certificates")
    if certs is None:
        return
    if not isinstance(certs, list) or not 1 <= len(certs) <= 50 or not all(isinstance(c, str) and c for c in certs):
        raise BadRequest(f"Invalid input for field/attribute trusted_image_certificates. Value: {certs}.")
    raise BadRequest(
        "Image certificate validation is not supported by this cloud: trusted_image_certificates cannot be honoured."
    )


def parse_time(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise BadRequest(f"Invalid filter field: {field}. Value {value!r} is not an ISO 8601 time.") from None
    if parsed.tzinfo is not None:
        from datetime import timezone

        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed
