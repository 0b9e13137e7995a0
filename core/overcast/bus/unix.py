"""The ``unix://`` bus: the API worker processes of one machine and ``overcast up``.

With ``[api] workers > 1`` and the in-process bus, ``overcast up`` keeps serving its topics
(the host agents, ``network``, ``image``...) in its own process, and also listens on a unix
socket in the data dir (:class:`BusHub`, an :class:`~overcast.bus.memory.InProcessBus` that
other processes can reach). Each API worker's bus is a :class:`UnixBus` connected to it: its
calls, casts and notifications go to the hub, which answers from the topics served in
``overcast up`` or passes them on to the worker that serves the topic; its subscriptions
receive the notifications sent anywhere on the machine. No broker to install, nothing
crosses the machine (the socket is the owner's only).

The messages are the bus's JSON envelopes (:func:`~overcast.bus.encode`,
:func:`~overcast.bus.encode_result`), framed on the socket as a 4-byte length and a JSON
object naming the operation: ``call`` (``id``, ``topic``, ``body``, ``timeout``) answered
by ``reply`` (``id``, ``body``); ``cast``; ``notify`` delivered as ``event``; ``serve``,
``unserve`` and ``subscribe``. A peer that goes away fails the calls waiting on it with
``ServiceUnavailable`` at once, not at their timeout.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import socket
import struct
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from overcast.bus import decode, decode_result, encode, encode_result, handle_request
from overcast.bus.memory import InProcessBus
from overcast.errors import ServiceUnavailable

log = logging.getLogger(__name__)

SCHEME = "unix://"
_LENGTH = struct.Struct("!I")
MAX_FRAME = 256 * 1024 * 1024


def bus_url(path: str | os.PathLike[str]) -> str:
    """The ``unix://`` url of the hub listening at ``path``."""
    return SCHEME + str(path)


class _Connection:
    """One socket carrying frames both ways: sends are serialised, reads are one thread's."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._send_lock = threading.Lock()
        self._reader = sock.makefile("rb")
        self.closed = False

    def send(self, frame: Mapping[str, Any]) -> None:
        data = json.dumps(frame, separators=(",", ":")).encode()
        try:
            with self._send_lock:
                self.sock.sendall(_LENGTH.pack(len(data)) + data)
        except OSError as exc:
            raise ServiceUnavailable(f"the local bus connection is gone: {exc}") from None

    def receive(self) -> dict[str, Any] | None:
        """The next frame, or ``None`` once the peer has gone."""
        try:
            head = self._reader.read(_LENGTH.size)
            if len(head) < _LENGTH.size:
                return None
            (size,) = _LENGTH.unpack(head)
            if size > MAX_FRAME:
                log.error("local bus: a frame of %d bytes; closing the connection", size)
                return None
            data = self._reader.read(size)
            if len(data) < size:
                return None
            frame: dict[str, Any] = json.loads(data)
            return frame
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._reader.close()
        with contextlib.suppress(OSError):
            self.sock.close()


class _Pending:
    """Calls sent and not yet answered, by id."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._futures: dict[int, Future[str]] = {}
        self._lock = threading.Lock()

    def add(self) -> tuple[int, Future[str]]:
        future: Future[str] = Future()
        with self._lock:
            call_id = next(self._ids)
            self._futures[call_id] = future
        return call_id, future

    def discard(self, call_id: int) -> None:
        with self._lock:
            self._futures.pop(call_id, None)

    def resolve(self, call_id: int, body: str) -> None:
        with self._lock:
            future = self._futures.pop(call_id, None)
        if future is not None and not future.done():
            future.set_result(body)

    def fail_all(self, reason: str) -> None:
        with self._lock:
            futures, self._futures = list(self._futures.values()), {}
        for future in futures:
            if not future.done():
                future.set_result(encode_result(error=ServiceUnavailable(reason)))


def _wait(future: Future[str], topic: str, method: str, timeout: float) -> str:
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        raise ServiceUnavailable(f"'{topic}' did not answer '{method}' in time") from None


def _method_of(body: str) -> str:
    try:
        return decode(body)[0]
    except (ValueError, KeyError, TypeError):
        return "?"


class _Peer:
    """A worker connected to the hub."""

    def __init__(self, hub: BusHub, conn: _Connection) -> None:
        self.hub = hub
        self.conn = conn
        self.pending = _Pending()  # calls the hub passed on to this worker
        self.topics: set[str] = set()
        self.events: set[str] = set()

    def call(self, topic: str, body: str, timeout: float) -> str:
        call_id, future = self.pending.add()
        try:
            self.conn.send({"op": "call", "id": call_id, "topic": topic, "body": body, "timeout": timeout})
            return _wait(future, topic, _method_of(body), timeout)
        finally:
            self.pending.discard(call_id)

    def run(self) -> None:
        try:
            while (frame := self.conn.receive()) is not None:
                self.hub._on_frame(self, frame)
        finally:
            self.hub._gone(self)


class BusHub(InProcessBus):
    """``overcast up``'s bus with API workers: its own topics in process, and a unix socket
    at ``path`` through which the workers' :class:`UnixBus` reach them and each other."""

    def __init__(self, path: str | os.PathLike[str], rpc_timeout: float = 60.0, workers: int = 32) -> None:
        super().__init__(rpc_timeout=rpc_timeout, workers=workers)
        self.path = Path(path)
        self.url = bus_url(self.path)
        self._peers: set[_Peer] = set()
        self._remote: dict[str, _Peer] = {}  # topic -> the worker serving it
        self._closing = threading.Event()
        # the workers' requests get threads of their own: a handler they reach may call another
        # topic on this process's pool, which they must not be able to fill
        self._inbound = ThreadPoolExecutor(max_workers=workers * 2, thread_name_prefix="bus-hub-in")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a socket a killed server left behind
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the owner's only, from the moment it exists
        try:
            self._listener.bind(str(self.path))
        finally:
            os.umask(old_umask)
        self._listener.listen(128)
        self._acceptor = threading.Thread(target=self._accept_forever, name="bus-hub", daemon=True)
        self._acceptor.start()

    # --- the Bus, for overcast up itself ---------------------------------------------------

    def request(self, topic: str, method: str, args: Mapping[str, Any], timeout: float | None = None) -> Any:
        if topic in self._handlers:
            return super().request(topic, method, args, timeout)
        peer = self._remote.get(topic)
        if peer is None:
            raise ServiceUnavailable(f"nothing is serving '{topic}'")
        return decode_result(peer.call(topic, encode(method, dict(args)), timeout or self.rpc_timeout))

    def cast(self, topic: str, method: str, **args: Any) -> None:
        self._pool.submit(self._answer, topic, encode(method, args), self.rpc_timeout)

    def notify(self, event: str, **payload: Any) -> None:
        self._fan_out(event, encode(event, payload))

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        for peer in list(self._peers):
            peer.conn.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._inbound.shutdown(wait=False, cancel_futures=True)
        super().close()

    @property
    def peers(self) -> int:
        """How many worker processes are connected."""
        return len(self._peers)

    # --- the hub ---------------------------------------------------------------------------

    def _accept_forever(self) -> None:
        while not self._closing.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                if self._closing.is_set():
                    return
                continue
            peer = _Peer(self, _Connection(sock))
            with self._lock:
                self._peers.add(peer)
            threading.Thread(target=peer.run, name="bus-hub-peer", daemon=True).start()

    def _answer(self, topic: str, body: str, timeout: float) -> str:
        """The reply envelope to ``body`` sent to ``topic``: from the handler in this
        process, or from the worker serving it. Never raises."""
        handler = self._handlers.get(topic)
        if handler is not None:
            return handle_request(handler, topic, body)
        peer = self._remote.get(topic)
        if peer is None:
            return encode_result(error=ServiceUnavailable(f"nothing is serving '{topic}'"))
        try:
            return peer.call(topic, body, timeout)
        except Exception as exc:  # noqa: BLE001 - travels back to the caller
            return encode_result(error=exc)

    def _fan_out(self, event: str, body: str) -> None:
        """``body`` (a notification) to this process's subscribers and every worker subscribed."""
        callbacks = list(self._subscribers.get(event, ()))
        if callbacks:
            _, args = decode(body)
            for callback in callbacks:
                self._pool.submit(callback, **args)
        for peer in [p for p in list(self._peers) if event in p.events]:
            try:
                peer.conn.send({"op": "event", "event": event, "body": body})
            except ServiceUnavailable:
                pass  # that worker is gone; its reader thread forgets it

    def _on_frame(self, peer: _Peer, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == "call":
            self._inbound.submit(self._reply, peer, frame)
        elif op == "cast":
            self._inbound.submit(self._answer, str(frame["topic"]), str(frame["body"]), self.rpc_timeout)
        elif op == "reply":
            peer.pending.resolve(int(frame["id"]), str(frame["body"]))
        elif op == "notify":
            self._fan_out(str(frame["event"]), str(frame["body"]))
        elif op == "serve":
            with self._lock:
                peer.topics.add(frame["topic"])
                self._remote[frame["topic"]] = peer
        elif op == "unserve":
            with self._lock:
                peer.topics.discard(frame["topic"])
                if self._remote.get(frame["topic"]) is peer:
                    del self._remote[frame["topic"]]
        elif op == "subscribe":
            with self._lock:
                peer.events.add(frame["event"])
        else:
            log.error("local bus: unknown operation %r from a worker; ignored", op)

    def _reply(self, peer: _Peer, frame: dict[str, Any]) -> None:
        timeout = float(frame.get("timeout") or self.rpc_timeout)
        body = self._answer(str(frame["topic"]), str(frame["body"]), timeout)
        with contextlib.suppress(ServiceUnavailable):  # the caller went away meanwhile
            peer.conn.send({"op": "reply", "id": frame["id"], "body": body})

    def _gone(self, peer: _Peer) -> None:
        with self._lock:
            self._peers.discard(peer)
            for topic in peer.topics:
                if self._remote.get(topic) is peer:
                    del self._remote[topic]
        peer.pending.fail_all("the worker process serving it went away")
        peer.conn.close()
        if not self._closing.is_set():
            log.info("local bus: a worker disconnected", extra={"topics": sorted(peer.topics)})


class UnixBus:
    """An API worker's bus: every topic reached through the hub of ``overcast up`` at
    ``path``. It connects on first use (so a process can build it and fork before any
    thread runs) and does not reconnect: a worker lives no longer than its server."""

    def __init__(self, path: str | os.PathLike[str], rpc_timeout: float = 60.0, workers: int = 16) -> None:
        self.path = str(path)
        self.rpc_timeout = rpc_timeout
        self._workers = workers
        self._handlers: dict[str, object] = {}
        self._subscribers: dict[str, list[Callable[..., None]]] = defaultdict(list)
        self._pending = _Pending()
        self._lock = threading.Lock()
        self._conn: _Connection | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lost: str | None = None
        self._closed = False

    # --- connection ------------------------------------------------------------------------

    def _connection(self) -> _Connection:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        with self._lock:
            if self._conn is not None and not self._conn.closed:
                return self._conn
            if self._closed:
                raise ServiceUnavailable("the local bus is closed")
            if self._lost is not None:
                raise ServiceUnavailable(f"the local bus is gone ({self._lost})")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.path)
            except OSError as exc:
                sock.close()
                raise ServiceUnavailable(f"the local bus at {self.path} is unreachable: {exc.strerror}") from None
            conn = _Connection(sock)
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="unix-bus")
            threading.Thread(target=self._read_forever, args=(conn,), name="unix-bus", daemon=True).start()
            for topic in self._handlers:
                conn.send({"op": "serve", "topic": topic})
            for event in self._subscribers:
                conn.send({"op": "subscribe", "event": event})
            self._conn = conn
            return conn

    def _send(self, frame: Mapping[str, Any]) -> None:
        self._connection().send(frame)

    def _submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        pool = self._pool
        if pool is not None:
            with contextlib.suppress(RuntimeError):  # shut down: closing
                pool.submit(fn, *args, **kwargs)

    def _read_forever(self, conn: _Connection) -> None:
        while (frame := conn.receive()) is not None:
            op = frame.get("op")
            if op == "reply":
                self._pending.resolve(int(frame["id"]), str(frame["body"]))
            elif op == "call":
                self._submit(self._serve_call, conn, frame)
            elif op == "cast":
                self._submit(handle_request, self._handlers.get(frame["topic"]), frame["topic"], frame["body"])
            elif op == "event":
                self._deliver(str(frame["event"]), str(frame["body"]))
            else:
                log.error("local bus: unknown operation %r from the hub; ignored", op)
        with self._lock:
            if not self._closed:
                self._lost = "overcast up closed the connection"
                log.error("local bus: the connection to overcast up is lost")
        conn.close()
        self._pending.fail_all("the local bus connection to overcast up is lost")

    def _serve_call(self, conn: _Connection, frame: dict[str, Any]) -> None:
        topic = str(frame["topic"])
        body = handle_request(self._handlers.get(topic), topic, str(frame["body"]))
        with contextlib.suppress(ServiceUnavailable):
            conn.send({"op": "reply", "id": frame["id"], "body": body})

    def _deliver(self, event: str, body: str) -> None:
        callbacks = list(self._subscribers.get(event, ()))
        if not callbacks:
            return
        try:
            _, args = decode(body)
        except (ValueError, KeyError) as exc:
            log.error("dropping an undecodable notification on %s: %s", event, exc)
            return
        for callback in callbacks:
            self._submit(callback, **args)

    # --- the Bus ---------------------------------------------------------------------------

    def serve(self, topic: str, handler: object) -> None:
        with self._lock:
            self._handlers[topic] = handler
            conn = self._conn
        if conn is not None:
            conn.send({"op": "serve", "topic": topic})
        else:
            self._connection()

    def stop_serving(self, topic: str) -> None:
        with self._lock:
            self._handlers.pop(topic, None)
            conn = self._conn
        if conn is not None and not conn.closed:
            with contextlib.suppress(ServiceUnavailable):
                conn.send({"op": "unserve", "topic": topic})

    def serving(self, topic: str) -> object | None:
        with self._lock:
            return self._handlers.get(topic)

    def call(self, topic: str, method: str, timeout: float | None = None, **args: Any) -> Any:
        return self.request(topic, method, args, timeout)

    def request(self, topic: str, method: str, args: Mapping[str, Any], timeout: float | None = None) -> Any:
        timeout = timeout or self.rpc_timeout
        body = encode(method, dict(args))
        handler = self._handlers.get(topic)
        if handler is not None:  # served here: no round trip through the hub
            return decode_result(handle_request(handler, topic, body))
        conn = self._connection()
        call_id, future = self._pending.add()
        try:
            conn.send({"op": "call", "id": call_id, "topic": topic, "body": body, "timeout": timeout})
            return decode_result(_wait(future, topic, method, timeout))
        finally:
            self._pending.discard(call_id)

    def cast(self, topic: str, method: str, **args: Any) -> None:
        self._send({"op": "cast", "topic": topic, "body": encode(method, args)})

    def notify(self, event: str, **payload: Any) -> None:
        self._send({"op": "notify", "event": event, "body": encode(event, payload)})

    def subscribe(self, event: str, callback: Callable[..., None]) -> None:
        with self._lock:
            first = event not in self._subscribers
            self._subscribers[event].append(callback)
            conn = self._conn
        if conn is None:
            self._connection()
        elif first:
            conn.send({"op": "subscribe", "event": event})

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._pending.fail_all("the local bus is closed")
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
