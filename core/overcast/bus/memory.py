"""The ``memory://`` bus: the in-process default (one process, a thread pool)."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from overcast.bus import decode, decode_result, encode, handle_request
from overcast.errors import ServiceUnavailable

log = logging.getLogger(__name__)


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

    def serving(self, topic: str) -> object | None:
        with self._lock:
            return self._handlers.get(topic)

    def _dispatch(self, topic: str, message: str) -> str:
        return handle_request(self._handlers.get(topic), topic, message)

    def call(self, topic: str, method: str, timeout: float | None = None, **args: Any) -> Any:
        return self.request(topic, method, args, timeout)

    def request(self, topic: str, method: str, args: Mapping[str, Any], timeout: float | None = None) -> Any:
        if topic not in self._handlers:
            raise ServiceUnavailable(f"nothing is serving '{topic}'")
        future = self._pool.submit(self._dispatch, topic, encode(method, dict(args)))
        try:
            reply = future.result(timeout=timeout or self.rpc_timeout)
        except FutureTimeout:
            raise ServiceUnavailable(f"'{topic}' did not answer '{method}' in time") from None
        return decode_result(reply)

    def cast(self, topic: str, method: str, **args: Any) -> None:
        self._pool.submit(self._dispatch, topic, encode(method, args))

    def notify(self, event: str, **payload: Any) -> None:
        callbacks = list(self._subscribers.get(event, ()))
        if not callbacks:
            return  # nobody listens: nothing to encode (a server create sends several)
        message = encode(event, payload)
        for callback in callbacks:
            _, args = decode(message)
            self._pool.submit(callback, **args)

    def subscribe(self, event: str, callback: Callable[..., None]) -> None:
        with self._lock:
            self._subscribers[event].append(callback)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
