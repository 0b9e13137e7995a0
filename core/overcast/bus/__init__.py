"""Messaging between controllers and host agents.

Topics: ``agent.<host>`` for one host's agent, ``<service>`` for a service. Three patterns:

* ``call(topic, method, **args)``: RPC, waits for the answer (or ``rpc_timeout``);
* ``cast(topic, method, **args)``: fire and forget;
* ``notify(event, **payload)``: fan-out to every subscriber of ``event``.

Messages are JSON envelopes ``{"v": 1, "method": ..., "args": ...}`` with contract values
encoded by :func:`overcast.types.to_dict`, so the in-process bus already proves that
everything sent could cross a real broker.

Versions: ``v`` is the envelope's version. Peers of different releases interoperate: fields
of a contract value that the receiver does not know are ignored and missing ones take their
defaults (:func:`overcast.types.from_dict`), a contract type it does not know arrives as a
plain dict, and arguments a handler does not accept are dropped (logged) rather than failing
the call, so a newer controller can call an older agent. ``memory://`` is the in-process default;
``amqp://`` (RabbitMQ through kombu) is the multi-host transport.

Agents never touch the database: they run drivers and answer RPCs; controllers own state.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from overcast.errors import ConfigError, OvercastError, ServiceUnavailable
from overcast.types import from_dict, to_dict

log = logging.getLogger(__name__)

ENVELOPE_VERSION = 1


class RemoteError(OvercastError):
    """An RPC handler raised; carries the remote error's class name and message.

    If the remote error is an Overcast error, :func:`raise_remote` re-raises that class.
    """


def encode(method: str, args: dict[str, Any]) -> str:
    return json.dumps({"v": ENVELOPE_VERSION, "method": method, "args": to_dict(args)})


def decode(message: str) -> tuple[str, dict[str, Any]]:
    data = json.loads(message)
    if data.get("v", 0) > ENVELOPE_VERSION:
        log.info("message version %s is newer than %s; unknown fields are ignored", data["v"], ENVELOPE_VERSION)
    return data["method"], from_dict(data.get("args") or {})


def encode_result(result: Any = None, error: BaseException | None = None) -> str:
    if error is not None:
        return json.dumps({"v": ENVELOPE_VERSION, "error": {"class": type(error).__name__, "message": str(error)}})
    return json.dumps({"v": ENVELOPE_VERSION, "result": to_dict(result)})


def decode_result(message: str) -> Any:
    data = json.loads(message)
    if "error" in data:
        raise_remote(data["error"]["class"], data["error"]["message"])
    return from_dict(data.get("result"))


def handle_request(handler: object | None, topic: str, message: str) -> str:
    """Run one RPC against ``handler`` and encode its answer (or its error) for the caller."""
    if handler is None:
        return encode_result(error=ServiceUnavailable(f"nothing is serving '{topic}'"))
    method, args = decode(message)
    func = None if method.startswith("_") else getattr(handler, method, None)
    if func is None:
        return encode_result(error=ServiceUnavailable(f"'{topic}' has no method '{method}'"))
    try:
        return encode_result(func(**_accepted(func, topic, method, args)))
    except Exception as exc:  # noqa: BLE001 - errors travel back to the caller
        log.debug("rpc %s.%s failed", topic, method, exc_info=True)
        return encode_result(error=exc)


def _accepted(func: Callable[..., Any], topic: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` without the keywords ``func`` does not take (sent by a newer peer)."""
    params = _parameters(getattr(func, "__func__", func))
    if params is None:
        return args
    unknown = [k for k in args if k not in params]
    if not unknown:
        return args
    log.info("rpc %s.%s: ignoring arguments this side does not know: %s", topic, method, ", ".join(sorted(unknown)))
    return {k: v for k, v in args.items() if k in params}


@functools.lru_cache(maxsize=4096)
def _parameters(func: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword names ``func`` accepts, or ``None`` if it takes any (``**kwargs``)."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return frozenset(params)


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

    def call(self, topic: str, method: str, timeout: float | None = None, **args: Any) -> Any: ...

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

        return AmqpBus(url, rpc_timeout=section.rpc_timeout, prefix=getattr(section, "prefix", ""),
                       ssl=amqp_ssl_options(section))
    raise ConfigError(f"[bus] url: unknown scheme in {url!r}; use memory://, amqp:// or amqps://")


from overcast.bus.memory import InProcessBus  # noqa: E402  (re-exported for convenience)

__all__ = ["Bus", "InProcessBus", "RemoteError", "decode", "decode_result", "encode", "encode_result", "handle_request", "make_bus"]
