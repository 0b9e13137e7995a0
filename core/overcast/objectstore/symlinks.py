"""Swift's symlinks (the ``symlink`` middleware): a zero-byte object that names another.

A PUT with ``X-Symlink-Target: <container>/<object>`` (and optionally
``X-Symlink-Target-Account``) makes a *dynamic* link; with ``X-Symlink-Target-Etag`` too, a
*static* one, whose target must exist with that ETag when it is made and still have it when it
is read. The target is kept in system metadata. A GET or HEAD follows the link (up to
``SYMLOOP_MAX`` links in a chain; more is 409) and answers the target with a
``Content-Location`` naming it; ``?symlink=get`` answers the link itself with its
``X-Symlink-Target*`` headers. A POST applies to the link and answers 307 with the target as
``Location``; a COPY copies the target (with ``?symlink=get``, the link). JSON container listings
show ``symlink_path`` (and, for a static link, ``symlink_etag`` and ``symlink_bytes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from overcast.errors import BadRequest, PreconditionFailed
from overcast.objectstore import names
from overcast.types import ObjectInfo

SYMLOOP_MAX = 2
CONTENT_TYPE = "application/symlink"
TARGET = "x-object-sysmeta-symlink-target"
TARGET_ACCOUNT = "x-object-sysmeta-symlink-target-account"
TARGET_ETAG = "x-object-sysmeta-symlink-target-etag"
TARGET_BYTES = "x-object-sysmeta-symlink-target-bytes"
_FORM = "X-Symlink-Target header must be of the form <container name>/<object name>"


@dataclass(frozen=True)
class Target:
    """Where a link points: an account (``AUTH_<project>``), a container and an object;
    ``etag`` (and ``size``) for a static link."""

    account: str
    container: str
    name: str
    etag: str | None = None
    size: int | None = None

    @property
    def project_id(self) -> str:
        return names.project_of_account(self.account)

    def args(self) -> tuple[str, str, str]:
        """``(project_id, container, name)``: how the service's object methods take it."""
        return self.project_id, self.container, self.name

    def path(self) -> str:
        """Swift's form, ``/v1/<account>/<container>/<object>``, quoted."""
        return "/v1/" + quote(f"{self.account}/{self.container}/{self.name}")

    def sysmeta(self, own_account: str) -> dict[str, str]:
        meta = {TARGET: f"{self.container}/{self.name}"}
        if self.account != own_account:
            meta[TARGET_ACCOUNT] = self.account
        if self.etag is not None:
            meta[TARGET_ETAG] = self.etag
            meta[TARGET_BYTES] = str(self.size or 0)
        return meta


def requested(headers: Mapping[str, str], account: str, container: str, name: str) -> Target | None:
    """The target a PUT asks for (lower-case header names), or ``None`` when it makes no link.
    412 for a target not of the form ``<container>/<object>``, 400 for a link to itself."""
    if "x-symlink-target" not in headers:
        return None
    raw = unquote(headers["x-symlink-target"])
    if raw.startswith("/"):
        raise PreconditionFailed(_FORM)
    target_container, sep, target_name = raw.partition("/")
    if not sep or not target_container or not target_name:
        raise PreconditionFailed(_FORM)
    names.check_container(target_container)
    names.check_object(target_name)
    target_account = unquote(headers.get("x-symlink-target-account") or account)
    if not target_account.startswith("AUTH_"):
        raise PreconditionFailed("Account name cannot contain slashes" if "/" in target_account else _FORM)
    if (target_account, target_container, target_name) == (account, container, name):
        raise BadRequest("Symlink cannot target itself")
    etag = headers.get("x-symlink-target-etag")
    if etag is not None:
        etag = etag.strip().strip('"')
        if not etag or any(c in etag for c in ';"\\'):
            raise BadRequest("Bad X-Symlink-Target-Etag format")
    return Target(target_account, target_container, target_name, etag)


def target_of(info: ObjectInfo, own_account: str) -> Target | None:
    """The target of a stored object that is a link, or ``None``."""
    meta = info.metadata
    where = meta.get(TARGET)
    if not where:
        return None
    container, _, name = where.partition("/")
    size = meta.get(TARGET_BYTES)
    return Target(
        meta.get(TARGET_ACCOUNT, own_account), container, name, meta.get(TARGET_ETAG), int(size) if size else None
    )


def link_headers(target: Target, own_account: str) -> dict[str, str]:
    """What ``?symlink=get`` shows of a link."""
    out = {"X-Symlink-Target": quote(f"{target.container}/{target.name}")}
    if target.account != own_account:
        out["X-Symlink-Target-Account"] = target.account
    if target.etag is not None:
        out["X-Symlink-Target-Etag"] = target.etag
    return out


def listing_fields(info: ObjectInfo, own_account: str) -> dict[str, object]:
    """The JSON container listing's extra keys for a link (none for other objects)."""
    target = target_of(info, own_account)
    if target is None:
        return {}
    out: dict[str, object] = {"symlink_path": target.path()}
    if target.etag is not None:
        out["symlink_etag"] = target.etag
        out["symlink_bytes"] = target.size or 0
    return out
