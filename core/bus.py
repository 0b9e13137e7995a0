"""Messaging between controllers and host agents.

Topics: ``agent.<host>`` for one host's agent, ``<service>`` for a service. Three patterns:

* ``call(topic, method, **args)``: RPC, waits for the answer (or ``rpc_timeout``);
* ``cast(topic, method, **args)``: fire and forget;
* ``notify(event, **payload)``: fan-out to every subscriber of ``event``.

Messages are JSON envelopes ``{"v": 1, "method": ..., "args": ...}`` with contract values
encoded by :func:`overcast.types.to_dict`, so the in-process bus already proves that
everything sent could cross a real broker. ``memory://`` is the in-process default;
``amqp://`` (RabbitMQ through kombu) is the multi-host transport.

Agents never touch the database: they run drivers and answer RPCs; controllers own state.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from overcast.errors import OvercastError, ServiceUnavailable
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


class InProcessBus:
    """The ``memory://`` bus: same semantics and JSON envelopes, one process, thread pool."""

    def __init__(self, rpc_timeout: float = 60.0, workers: int = 32) -> None:
        self.rpc_timeout = rpc_timeout
        self._handlers: dict[str, object] = {}
        self._subscribers: dict[str, list[Callable[..., None]]] = defaultdict(list)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bus")
        self._lock = threading.Lock()

    def serve(self, topic: str, handler: object) -> None:
        with self._lock:
            self._handlers[topic] = handler

    def stop_serving(self, topic: str) -> None:
        with self._lock:
            self._handlers.pop(topic, None)

    def _dispatch(self, topic: str, message: str) -> str:
        handler = self._handlers.get(topic)
        method, args = decode(message)
        if handler is None:
            return encode_result(error=ServiceUnavailable(f"nothing is serving '{topic}'"))
        func = getattr(handler, method, None)
        if method.startswith("_") or func is None:
            return encode_result(error=ServiceUnavailable(f"'{topic}' has no method '{method}'"))
        try:
            return encode_result(func(**args))
        except Exception as exc:  # noqa: BLE001 - errors travel back to the caller
            log.debug("rpc %s.%s failed", topic, method, exc_info=True)
            return encode_result(error=exc)

    def call(self, topic: str, method: str, timeout: float | None = None, **args: Any) -> Any:
        if topic not in self._handlers:
            raise ServiceUnavailable(f"nothing is serving '{topic}'")
        future = self._pool.submit(self._dispatch, topic, encode(method, args))
        try:
            reply = future.result(timeout=timeout or self.rpc_timeout)
        except FutureTimeout:
            raise ServiceUnavailable(f"'{topic}' did not answer '{method}' in time") from None
        return decode_result(reply)

    def cast(self, topic: str, method: str, **args: Any) -> None:
        self._pool.submit(self._dispatch, topic, encode(method, args))

    def notify(self, event: str, **payload: Any) -> None:
        message = encode(event, payload)
        for callback in list(self._subscribers.get(event, ())):
            _, args = decode(message)
            self._pool.submit(callback, **args)

    def subscribe(self, event: str, callback: Callable[..., None]) -> None:
        with self._lock:
            self._subscribers[event].append(callback)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def make_bus(section: Any) -> Bus:
    """The bus the ``[bus]`` section asks for."""
    url: str = section.url
    if url.startswith("memory://"):
        return InProcessBus(rpc_timeout=section.rpc_timeout)
    if url.startswith("amqp://"):
        from overcast.errors import ConfigError

        raise ConfigError(f"[bus] url: the amqp:// transport is not available yet (got {url!r}); use memory://")
    from overcast.errors import ConfigError

    raise ConfigError(f"[bus] url: unknown scheme in {url!r}; use memory:// or amqp://")
