"""Messaging between controllers and host agents.

Topics: ``agent.<host>`` for one host's agent, ``<service>`` for a service. Three patterns:

* ``call(topic, method, **args)``: RPC, waits for the answer (or ``rpc_timeout``);
  ``request(topic, method, args)`` is the same with the arguments as one mapping;
* ``cast(topic, method, **args)``: fire and forget;
* ``notify(event, **payload)``: fan-out to every subscriber of ``event``.

Messages are JSON envelopes ``{"v": 1, "method": ..., "args": ...}`` with contract values
encoded by :func:`overcast.types.to_dict`, so the in-process bus already proves that
everything sent could cross a real broker. A receiver decodes arguments and answers from the
*declared types* of the method (:mod:`overcast.bus.rpc`), never from markers inside the data:
the ``__type__`` keys ``to_dict`` writes are only there for peers before agent RPC 1.2, which
read them; user data containing such a key is just data.

Versions: ``v`` is the envelope's version. Peers of different releases interoperate: fields
of a contract value that the receiver does not know are ignored and missing ones take their
defaults, and arguments a handler does not accept are left out and reported in the handler's
log rather than failing the call, so a newer controller can call an older agent. A handler's
failure, or a message it cannot decode, is always answered with an error.
``memory://`` is the in-process default; ``amqp://`` (RabbitMQ through kombu) is the
multi-host transport. With ``[api] workers > 1`` on ``memory://``, ``overcast up`` also hosts
a hub on a unix socket through which its API worker processes reach its topics
(:mod:`overcast.bus.unix`, no broker to install).

Agents never touch the database: they run drivers and answer RPCs; controllers own state.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from overcast.errors import ConfigError, OvercastError, ServiceUnavailable
from overcast.types import to_dict

log = logging.getLogger(__name__)

ENVELOPE_VERSION = 1


class RemoteError(OvercastError):
    """An RPC handler raised; carries the remote error's class name and message.

    If the remote error is an Overcast error, :func:`raise_remote` re-raises that class.
    """


def encode(method: str, args: dict[str, Any]) -> str:
    return json.dumps({"v": ENVELOPE_VERSION, "method": method, "args": to_dict(args)})


def decode(message: str) -> tuple[str, dict[str, Any]]:
    """The method and its arguments as JSON data (decoded by type where they are used)."""
    data = json.loads(message)
    if data.get("v", 0) > ENVELOPE_VERSION:
        log.info("message version %s is newer than %s; unknown fields are ignored", data["v"], ENVELOPE_VERSION)
    return data["method"], data.get("args") or {}


def encode_result(result: Any = None, error: BaseException | None = None) -> str:
    if error is not None:
        return json.dumps({"v": ENVELOPE_VERSION, "error": {"class": type(error).__name__, "message": str(error)}})
    return json.dumps({"v": ENVELOPE_VERSION, "result": to_dict(result)})


def decode_result(message: str) -> Any:
    """The answer as JSON data, or the remote error raised here."""
    data = json.loads(message)
    if "error" in data:
        raise_remote(data["error"]["class"], data["error"]["message"])
    return data.get("result")


def handle_request(handler: object | None, topic: str, message: str) -> str:
    """Run one RPC against ``handler`` and encode its answer (or its error) for the caller.

    Never raises: whatever goes wrong (an undecodable message, an argument of the wrong
    type, the handler's own error) becomes an error answer, so the caller is never left
    waiting and a broker message is always acknowledged."""
    from overcast.bus.rpc import decode_arguments, method_of

    try:
        if handler is None:
            raise ServiceUnavailable(f"nothing is serving '{topic}'")
        method, args = decode(message)
        found = method_of(handler, method)
        if found is None:
            raise ServiceUnavailable(f"'{topic}' has no method '{method}'")
        func, spec = found
        return encode_result(func(**decode_arguments(spec, topic, args)))
    except Exception as exc:  # noqa: BLE001 - errors travel back to the caller
        log.debug("rpc %s failed", topic, exc_info=True)
        try:
            return encode_result(error=exc)
        except Exception:  # noqa: BLE001 - an error whose text cannot be encoded
            return encode_result(error=OvercastError(f"rpc to '{topic}' failed: {type(exc).__name__}"))


def raise_remote(class_name: str, message: str) -> None:
    from overcast import errors

    cls = getattr(errors, class_name, None)
    if isinstance(cls, type) and issubclass(cls, OvercastError):
        raise cls(message)
    raise RemoteError(f"{class_name}: {message}", code=class_name)


class Bus(Protocol):
    def serve(self, topic: str, handler: object) -> None:
        """Answer ``topic``'s RPCs with ``handler``'s public methods (keyword arguments)."""

    def stop_serving(self, topic: str) -> None: ...

    def serving(self, topic: str) -> object | None:
        """The handler this process answers ``topic`` with (None: not served here)."""

    def call(self, topic: str, method: str, timeout: float | None = None, **args: Any) -> Any: ...

    def request(self, topic: str, method: str, args: Mapping[str, Any], timeout: float | None = None) -> Any:
        """``call`` with the arguments as one mapping, so an argument may be named anything
        (``timeout``, ``topic``...): what the typed stubs of :mod:`overcast.bus.rpc` use."""

    def cast(self, topic: str, method: str, **args: Any) -> None: ...

    def notify(self, event: str, **payload: Any) -> None: ...

    def subscribe(self, event: str, callback: Callable[..., None]) -> None: ...

    def close(self) -> None: ...


def make_bus(section: Any) -> Bus:
    """The bus the ``[bus]`` section asks for."""
    url: str = section.url
    if url.startswith("memory://"):
        from overcast.bus.memory import InProcessBus

        return InProcessBus(rpc_timeout=section.rpc_timeout)
    if url.startswith(("amqp://", "amqps://", "pyamqp://")):
        from overcast.bus.amqp import AmqpBus
        from overcast.tls import amqp_ssl_options

        return AmqpBus(
            url, rpc_timeout=section.rpc_timeout, prefix=getattr(section, "prefix", ""), ssl=amqp_ssl_options(section)
        )
    raise ConfigError(f"[bus] url: unknown scheme in {url!r}; use memory://, amqp:// or amqps://")


from overcast.bus.memory import InProcessBus  # noqa: E402  (re-exported for convenience)

__all__ = [
    "Bus",
    "InProcessBus",
    "RemoteError",
    "decode",
    "decode_result",
    "encode",
    "encode_result",
    "handle_request",
    "make_bus",
]
