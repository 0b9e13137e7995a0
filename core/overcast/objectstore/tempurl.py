"""TempURL: links signed with an account (or container) key that let anyone holding them
act on one object, or on every object under a prefix, until they expire, without a token.

The signature is Swift's: ``HMAC(key, "<METHOD>\\n<expires>\\n<path>")`` in hex (SHA-1 or
SHA-256) or ``sha512:<base64>``; ``path`` is the object's path, accepted both as served
here (``/object/v1/AUTH_p/c/o``) and in Swift's own form (``/v1/AUTH_p/c/o``), or with
``temp_url_prefix=<p>`` the string ``prefix:/v1/AUTH_p/c/<p>``, which signs every object whose
name starts with ``<p>``. A HEAD is allowed by a link signed for HEAD, GET, POST or PUT.
``temp_url_expires`` is a Unix time or an ISO 8601 UTC time (``2026-12-31T23:59:59Z``).
Keys are the metadata ``X-Account-Meta-Temp-URL-Key`` (``-Key-2``) and
``X-Container-Meta-Temp-URL-Key`` (``-Key-2``).

A successful GET or HEAD through a link answers ``Content-Disposition`` (``inline`` with the
query's ``inline``, ``attachment; filename=...`` with its ``filename``, else the object's own
disposition, else an attachment named after the object) and ``Expires`` (the link's expiry),
as Swift's tempurl middleware does.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import quote

from overcast.context import RequestContext
from overcast.errors import Unauthorized

DIGESTS = {40: hashlib.sha1, 64: hashlib.sha256}
METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")  # Swift's default ``methods``
_HEAD_SIGNED_AS = ("HEAD", "GET", "POST", "PUT")
_ISO_8601 = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Link:
    """The TempURL parameters of one request's query."""

    sig: str
    expires: str
    prefix: str | None = None
    filename: str | None = None
    inline: bool = False

    def expires_at(self) -> int:
        """The expiry as a Unix time (401 if it is neither an integer nor ISO 8601 UTC)."""
        try:
            return int(self.expires)
        except ValueError:
            pass
        try:
            return calendar.timegm(time.strptime(self.expires, _ISO_8601))
        except ValueError:
            raise Unauthorized("Temp URL invalid: temp_url_expires is not a time") from None

    def response_headers(self, object_name: str, existing_disposition: str | None) -> dict[str, str]:
        """``Content-Disposition`` and ``Expires`` for a GET or HEAD answered through the link."""
        if self.inline:
            disposition = _disposition("inline", self.filename) if self.filename else "inline"
        elif self.filename:
            disposition = _disposition("attachment", self.filename)
        elif existing_disposition:
            disposition = existing_disposition
        else:
            disposition = _disposition("attachment", object_name.rstrip("/").rsplit("/", 1)[-1])
        return {
            "Content-Disposition": disposition.replace("\n", "%0A"),
            "Expires": formatdate(self.expires_at(), usegmt=True),
        }


def link_of(query: Mapping[str, str]) -> Link | None:
    """The TempURL a request carries, or ``None`` when its query has no TempURL parameter."""
    if "temp_url_sig" not in query and "temp_url_expires" not in query:
        return None
    return Link(
        sig=query.get("temp_url_sig", ""),
        expires=query.get("temp_url_expires", ""),
        prefix=query.get("temp_url_prefix"),
        filename=query.get("filename") or None,
        inline="inline" in query,
    )


def _disposition(kind: str, filename: str) -> str:
    """RFC 6266 with the RFC 5987 ``filename*`` form beside the plain one."""
    return f"{kind}; filename=\"{quote(filename, safe=' /')}\"; filename*=UTF-8''{quote(filename)}"


def signed_by(key: str, message: str, sig: str) -> bool:
    """Whether ``sig`` is ``key``'s HMAC of ``message`` in one of the forms Swift takes (hex
    SHA-1 or SHA-256, ``sha512:<base64>``); shared with FormPost's form signatures."""
    data = message.encode()
    if sig.startswith("sha512:"):
        mac = hmac.new(key.encode(), data, hashlib.sha512).digest()
        given = sig[len("sha512:") :]
        return hmac.compare_digest(base64.urlsafe_b64encode(mac).decode().rstrip("="), given.rstrip("="))
    digest = DIGESTS.get(len(sig))
    if digest is None:
        return False
    return hmac.compare_digest(hmac.new(key.encode(), data, digest).hexdigest(), sig.lower())


def owner_context(project_id: str) -> RequestContext:
    """Who a valid TempURL or FormPost signature acts as: the account's owner, for one request."""
    return RequestContext(user_id="tempurl", project_id=project_id, roles=frozenset({"member", "reader"}))


def verify(
    keys: Iterable[str], method: str, container_paths: Iterable[str], name: str, link: Link, project_id: str
) -> RequestContext:
    """A context that may do ``method`` on object ``name``, or 401. ``container_paths`` are
    the container's path prefixes a link may be signed with (``/v1/AUTH_p/c/``, ...)."""
    if method not in METHODS:
        raise Unauthorized(f"Temp URL invalid: {method} is not allowed through a temporary URL")
    if not link.sig or not link.expires:
        raise Unauthorized("Temp URL invalid: temp_url_sig and temp_url_expires are both needed")
    if link.expires_at() < time.time():
        raise Unauthorized("Temp URL invalid: it has expired")
    if link.prefix is None:
        signed_paths = [base + name for base in container_paths]
    elif name.startswith(link.prefix):
        signed_paths = ["prefix:" + base + link.prefix for base in container_paths]
    else:
        raise Unauthorized("Temp URL invalid: the object is not under temp_url_prefix")
    methods = _HEAD_SIGNED_AS if method == "HEAD" else (method,)
    for key in keys:
        for path in signed_paths:
            for signed in methods:
                if signed_by(key, f"{signed}\n{link.expires}\n{path}", link.sig):
                    return owner_context(project_id)
    raise Unauthorized("Temp URL invalid: the signature does not match")
