"""Nova's remote consoles (issue 17): a one-time, expiring token per console URL, and where
the token leads (the hypervisor's :class:`~overcast.types.ConsoleEndpoint`).

Tokens live in ``overcast up`` (as Nova's console auth tokens, they are never reused: the
proxy consumes one when a websocket opens); only their SHA-256 is kept. With ``[api] workers
> 1`` a token issued through one API process may be redeemed through another, so the workers
ask ``overcast up``'s tokens over the bus (:data:`CONSOLE_TOKENS_TOPIC`).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from overcast.bus.rpc import rpc
from overcast.compute import states as st
from overcast.compute.records import configured_host, get_instance, instance_of
from overcast.context import RequestContext
from overcast.errors import BadRequest, Conflict, OvercastError
from overcast.types import ConsoleEndpoint

#: Nova's (protocol, type) pairs this cloud serves, and the legacy actions' types
PROTOCOLS = {"serial": ("serial",), "vnc": ("novnc",)}
TOKEN_TTL = 600.0  # Nova's [consoleauth] token_ttl default
#: the bus topic ``overcast up`` serves its console tokens on for its API workers
CONSOLE_TOKENS_TOPIC = "compute.console-tokens"


def tail_log(output: str, length: int) -> str:
    """Nova's ``_tail_log``: the last ``length`` items of the output split on newlines, so
    a log ending in a newline gives ``length - 1`` lines and the empty item after the last
    newline (``len(out.split("\\n")) == length``, as Tempest checks); ``0`` gives ``""``."""
    if length <= 0:
        return ""
    return "\n".join(output.split("\n")[-length:])


class FeatureNotSupported(OvercastError):
    """Nova's ``raise_feature_not_supported``: the driver has no such console."""

    status = 501
    title = "Not Implemented"


@dataclass(frozen=True)
class ConsoleGrant:
    instance_uuid: str
    endpoint: ConsoleEndpoint
    expires: float


class ConsoleTokens:
    """One-time tokens: :meth:`issue` returns the secret, :meth:`consume` redeems it once."""

    def __init__(self, ttl: float = TOKEN_TTL) -> None:
        self.ttl = ttl
        self._grants: dict[str, ConsoleGrant] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @rpc
    def issue(self, instance_uuid: str, endpoint: ConsoleEndpoint) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            for key in [k for k, g in self._grants.items() if g.expires <= now]:
                del self._grants[key]
            self._grants[self._key(token)] = ConsoleGrant(instance_uuid, endpoint, now + self.ttl)
        return token

    @rpc
    def consume(self, token: str) -> ConsoleGrant | None:
        """The grant, once; ``None`` for an unknown, used or expired token."""
        with self._lock:
            grant = self._grants.pop(self._key(token), None)
        if grant is None or grant.expires <= time.monotonic():
            return None
        return grant


def console_endpoint(runtime: Any, ctx: RequestContext, uuid: str, protocol: str, console_type: str) -> ConsoleEndpoint:
    """Check the request as Nova does and ask the server's host where its console listens."""
    if protocol not in PROTOCOLS or console_type not in PROTOCOLS[protocol]:
        raise BadRequest(f"Unavailable console type {console_type}.")
    with runtime.db.session() as s:
        rec = get_instance(s, ctx, uuid)
    if not rec.host or rec.vm_state != st.ACTIVE:
        raise Conflict(f"Instance {uuid} is not ready.")
    if not runtime.agents.compute(rec.host).supports(operation="get_console"):
        raise FeatureNotSupported("The requested functionality is not supported.")
    return runtime.agents.hypervisor().get_console(
        host=configured_host(runtime, rec.host), instance=instance_of(rec), console_type=protocol
    )
