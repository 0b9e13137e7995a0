"""Swift container ACLs (``X-Container-Read`` / ``X-Container-Write``), Keystone style.

An ACL is a comma list of grants:

* ``<project>:<user>`` where either side may be ``*`` and is matched against the caller's
  id or name (``<project_id>:*`` shares with every user of a project);
* ``<project>`` alone, the same as ``<project>:*``;
* ``.r:*`` (read ACL only): anyone, even without a token, may read objects;
  ``.rlistings`` additionally lets them list the container. Other referrer rules
  (``.r:example.com``) are accepted but grant nothing, as we do not trust ``Referer``.
"""

from __future__ import annotations

from overcast.context import RequestContext
from overcast.errors import BadRequest


def normalize(value: str) -> str:
    """Validate and tidy an ACL header value (400 on nonsense)."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    for item in items:
        if item.startswith("."):
            if not (item == ".rlistings" or item.startswith(".r:") or item.startswith(".referrer:")):
                raise BadRequest(f"unknown ACL element {item!r}")
        elif item.count(":") > 1:
            raise BadRequest(f"invalid ACL element {item!r}: expected <project>:<user>")
    return ",".join(items)


def _matches(side: str, ident: str | None, name: str) -> bool:
    return side == "*" or (bool(side) and side in (ident, name))


def grants(acl: str, ctx: RequestContext | None, listing: bool = False, read: bool = True) -> bool:
    """Whether ``acl`` lets ``ctx`` (``None``: anonymous) in. ``listing`` asks for a
    container listing rather than an object."""
    if not acl:
        return False
    items = acl.split(",")
    if read:
        public = any(i in (".r:*", ".referrer:*") for i in items)
        if public and (not listing or ".rlistings" in items):
            return True
    if ctx is None:
        return False
    for item in items:
        if item.startswith("."):
            continue
        project, _, user = item.partition(":")
        user = user or "*"
        if _matches(project, ctx.project_id, ctx.project_name) and _matches(user, ctx.user_id, ctx.user_name):
            return True
    return False
