"""TempURL: links signed with an account (or container) key that let anyone holding them
GET, HEAD or PUT one object until they expire, without a token.

The signature is Swift's: ``HMAC(key, "<METHOD>\\n<expires>\\n<path>")`` in hex (SHA-1 or
SHA-256) or ``sha512:<base64>``; ``path`` is the object's path, accepted both as served
here (``/object/v1/AUTH_p/c/o``) and in Swift's own form (``/v1/AUTH_p/c/o``). A GET link
also allows HEAD. Keys are the metadata ``X-Account-Meta-Temp-URL-Key`` (``-Key-2``) and
``X-Container-Meta-Temp-URL-Key`` (``-Key-2``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable

from overcast.context import RequestContext
from overcast.errors import Unauthorized

DIGESTS = {40: hashlib.sha1, 64: hashlib.sha256}


def _expected(key: str, method: str, expires: str, path: str, sig: str) -> bool:
    message = f"{method}\n{expires}\n{path}".encode()
    if sig.startswith("sha512:"):
        mac = hmac.new(key.encode(), message, hashlib.sha512).digest()
        given = sig[len("sha512:") :]
        return hmac.compare_digest(base64.urlsafe_b64encode(mac).decode().rstrip("="), given.rstrip("="))
    digest = DIGESTS.get(len(sig))
    if digest is None:
        return False
    return hmac.compare_digest(hmac.new(key.encode(), message, digest).hexdigest(), sig.lower())


def verify(
    keys: Iterable[str], method: str, paths: Iterable[str], sig: str, expires: str, project_id: str
) -> RequestContext:
    """A context that may do ``method`` on the object, or 401."""
    try:
        when = int(expires)
    except ValueError:
        raise Unauthorized("Invalid temp_url_expires") from None
    if when < time.time():
        raise Unauthorized("Temporary URL has expired")
    methods = ("GET", "HEAD") if method == "HEAD" else (method,)
    for key in keys:
        for path in paths:
            for signed in methods:
                if _expected(key, signed, expires, path, sig):
                    return RequestContext(
                        user_id="tempurl", project_id=project_id, roles=frozenset({"member", "reader"})
                    )
    raise Unauthorized("Temporary URL signature is not valid")
