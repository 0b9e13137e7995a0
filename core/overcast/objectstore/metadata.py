"""Which request headers become stored metadata, and Swift's limits on them.

Stored keys are lower-case header names: user metadata (``x-object-meta-*``,
``x-container-meta-*``, ``x-account-meta-*``), a few object headers Swift keeps
(``content-disposition``, ``content-encoding``, ``x-delete-at``, ``x-object-manifest``),
and system metadata (``x-object-sysmeta-*``, ``x-static-large-object``) that users
cannot set directly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from overcast.errors import BadRequest

MAX_META_NAME = 128
MAX_META_VALUE = 256
MAX_META_COUNT = 90

OBJECT_KEPT = ("content-disposition", "content-encoding", "x-delete-at", "x-object-manifest")
SYSTEM_PREFIXES = ("x-object-sysmeta-", "x-static-large-object")


def user_meta(headers: Mapping[str, str], family: str) -> dict[str, str]:
    """``x-<family>-meta-*`` headers (and ``x-remove-<family>-meta-*``), checked."""
    prefix = f"x-{family}-meta-"
    remove = f"x-remove-{family}-meta-"
    out = {k: v for k, v in headers.items() if k.startswith(prefix) or k.startswith(remove)}
    check_limits(out, prefix)
    return out


def check_limits(meta: Mapping[str, str], prefix: str, overall: int = 4096) -> None:
    total = 0
    count = 0
    for key, value in meta.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        if not name:
            raise BadRequest("Metadata name cannot be empty")
        if len(name) > MAX_META_NAME:
            raise BadRequest(f"Metadata name too long: {name[:32]}...; max {MAX_META_NAME}")
        if len(value) > MAX_META_VALUE:
            raise BadRequest(f"Metadata value longer than {MAX_META_VALUE}: {name}")
        total += len(name) + len(value)
        count += 1
    if count > MAX_META_COUNT:
        raise BadRequest(f"Too many metadata items; max {MAX_META_COUNT}")
    if total > overall:
        raise BadRequest(f"Total metadata too large; max {overall}")


def delete_at(headers: Mapping[str, str], now: float | None = None) -> str | None:
    """``X-Delete-At`` / ``X-Delete-After`` as an integer epoch string (400 if invalid or
    already past)."""
    now = time.time() if now is None else now
    after = headers.get("x-delete-after")
    at = headers.get("x-delete-at")
    if after is not None:
        try:
            seconds = int(after)
        except ValueError:
            raise BadRequest("Non-integer X-Delete-After") from None
        if seconds <= 0:
            raise BadRequest("X-Delete-After in past")
        return str(int(now + seconds))
    if at is not None:
        try:
            when = int(float(at))
        except ValueError:
            raise BadRequest("Non-integer X-Delete-At") from None
        if when <= now:
            raise BadRequest("X-Delete-At in past")
        return str(when)
    return None


def object_meta(headers: Mapping[str, str], overall: int) -> dict[str, str]:
    """The metadata a PUT or POST stores from its headers (not system metadata)."""
    meta = {k: v for k, v in headers.items() if k.startswith("x-object-meta-")}
    check_limits(meta, "x-object-meta-", overall)
    for key in OBJECT_KEPT:
        if key in headers and key != "x-delete-at":
            meta[key] = headers[key]
    when = delete_at(headers)
    if when is not None:
        meta["x-delete-at"] = when
    manifest = meta.get("x-object-manifest")
    if manifest is not None and ("/" not in manifest.lstrip("/") or manifest.startswith("/")):
        raise BadRequest("X-Object-Manifest must be in the format container/prefix")
    return meta


def is_expired(meta: Mapping[str, str], now: float | None = None) -> bool:
    when = meta.get("x-delete-at")
    if not when:
        return False
    try:
        return int(when) <= (time.time() if now is None else now)
    except ValueError:
        return False


def response_headers(meta: Mapping[str, str]) -> dict[str, str]:
    """Stored metadata as response headers (system metadata stays inside)."""
    out = {}
    for key, value in meta.items():
        if key.startswith("x-object-sysmeta-"):
            continue
        out["-".join(p.capitalize() for p in key.split("-"))] = value
    return out
