"""Generated passwords: the cloud's admin password, a server's ``adminPass``."""

from __future__ import annotations

import secrets


def new_password(nbytes: int = 16) -> str:
    """A random URL-safe password of ``nbytes`` of entropy that never begins with ``-``: a
    command line reads a leading dash as an option (``swift -K -x…``, ``--os-password -x…``)."""
    password = secrets.token_urlsafe(nbytes)
    while password.startswith("-"):
        password = secrets.token_urlsafe(nbytes)
    return password
