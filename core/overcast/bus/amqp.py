"""The ``amqp://`` bus: RabbitMQ through kombu, for controllers and agents on many hosts.

Delivery guarantees, and how they are kept:

* A request is *acknowledged* to its sender once the broker has confirmed it (publisher
  confirms) into a durable queue as a persistent message: a broker restart does not lose it.
* A server acks a request only after its handler ran and the reply was published, so a
  process or connection lost mid-request means the request is delivered again (at least
  once: handlers must be idempotent, as agent operations are).
* Every lost connection is retried with backoff, forever for the consumer and up to the
  call's timeout for publishers; it is logged, never raised into the process.

* A request that nobody took within its call's timeout expires in the broker (per-message
  TTL), so an agent that comes back does not run work its caller has given up on.

Topology: one durable direct exchange ``overcast`` with a durable queue per served topic
(``agent.node1``, ``compute``); one topic exchange ``overcast.events`` for notifications, with
an exclusive queue per subscribing process; an exclusive reply queue per process. With
``[bus] prefix = "p"`` every exchange, queue and routing key starts with ``p.``, so several
clouds (or test runs) share one broker without seeing each other's messages.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from kombu import Connection, Consumer, Exchange, Producer, Queue

from overcast.bus import decode, decode_result, encode, handle_request
from overcast.errors import ServiceUnavailable

log = logging.getLogger(__name__)

RPC_EXCHANGE = Exchange("overcast", type="direct", durable=True)
EVENT_EXCHANGE = Exchange("overcast.events", type="topic", durable=True)
BACKOFF = {"interval_start": 0.2, "interval_step": 0.5, "interval_max": 5.0}


def topic_queue(topic: str, exchange: Exchange = RPC_EXCHANGE) -> Queue:
    return Queue(topic, exchange, routing_key=topic, durable=True, auto_delete=False)


class AmqpBus:
    """A :class:`overcast.bus.Bus` over RabbitMQ. Thread-safe; one consumer thread."""

    def __init__(
        self,
        url: str,
        rpc_timeout: float = 60.0,
        workers: int = 16,
        prefix: str = "",
        publishers: int = 4,
        ssl: dict[str, Any] | None = None,
    ) -> None:
        self.url = url
        self._ssl = ssl  # kombu's ssl options for amqps:// (overcast.tls.amqp_ssl_options)
        self.rpc_timeout = rpc_timeout
        self.prefix = f"{prefix}." if prefix and not prefix.endswith(".") else prefix
        self._rpc_exchange = Exchange(self.prefix + RPC_EXCHANGE.name, type="direct", durable=True)
        self._event_exchange = Exchange(self.prefix + EVENT_EXCHANGE.name, type="topic", durable=True)
        self._id = uuid.uuid4().hex[:12]
        self._reply_name = f"{self.prefix}reply.{socket.gethostname()}.{self._id}"
        self._handlers: dict[str, object] = {}
        self._subscribers: dict[str, list[Callable[..., None]]] = defaultdict(list)
        self._event_queues: dict[str, Queue] = {}
        self._pending: dict[str, Future[Any]] = {}
        self._acks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # correlation id -> reply (None while running) of the requests handled lately: a request
        # redelivered after a lost connection (its ack never reached the broker) is answered
        # from here instead of running twice (a second spawn would find its own guest)
        self._handled: OrderedDict[str, str | None] = OrderedDict()
        self._handled_lock = threading.Lock()
        self._changes = threading.Event()  # queues to consume changed
        self._wanted = 0  # generation of the queue set asked for (serve/subscribe)
        self._consuming = 0  # generation the consumer is consuming
        self._generation = threading.Condition()
        self._stopped = threading.Event()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="amqp-handler")
        # a few publisher connections: a publish holds one until the broker confirms it, so
        # concurrent callers (and replies from concurrent handlers) do not queue behind each other
        self._publishers: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._publishers_made = 0
        self._max_publishers = publishers
        self._publishers_lock = threading.Lock()
        self._all_publishers: list[Connection] = []
        self._thread = threading.Thread(target=self._consume_forever, name="amqp-consumer", daemon=True)
        self._thread.start()

    # --- Bus API ------------------------------------------------------------------------

    def serve(self, topic: str, handler: object) -> None:
        with self._lock:
            self._handlers[topic] = handler
        self._queues_changed()

    def stop_serving(self, topic: str) -> None:
        with self._lock:
            self._handlers.pop(topic, None)
        self._queues_changed()

    def serving(self, topic: str) -> object | None:
        with self._lock:
            return self._handlers.get(topic)

    def call(self, topic: str, method: str, timeout: float | None = None, **args: Any) -> Any:
        return self.request(topic, method, args, timeout)

    def request(self, topic: str, method: str, args: Mapping[str, Any], timeout: float | None = None) -> Any:
        timeout = timeout or self.rpc_timeout
        if not self._ready.wait(timeout):
            raise ServiceUnavailable(f"message broker unreachable; '{topic}' not asked '{method}'")
        correlation_id = uuid.uuid4().hex
        future: Future[Any] = Future()
        self._pending[correlation_id] = future
        try:
            self._publish(
                encode(method, dict(args)),
                exchange=self._rpc_exchange,
                routing_key=self.prefix + topic,
                declare=[self._topic_queue(topic)],
                reply_to=self._reply_name,
                correlation_id=correlation_id,
                deadline=timeout,
                expiration=timeout,
            )
            return decode_result(future.result(timeout=timeout))
        except FutureTimeout:
            raise ServiceUnavailable(f"'{topic}' did not answer '{method}' in time") from None
        finally:
            self._pending.pop(correlation_id, None)

    def cast(self, topic: str, method: str, **args: Any) -> None:
        self._publish(
            encode(method, args),
            exchange=self._rpc_exchange,
            routing_key=self.prefix + topic,
            declare=[self._topic_queue(topic)],
        )

    def notify(self, event: str, **payload: Any) -> None:
        self._publish(
            encode(event, payload),
            exchange=self._event_exchange,
            routing_key=self.prefix + event,
            declare=[self._event_exchange],
        )

    def _topic_queue(self, topic: str) -> Queue:
        return topic_queue(self.prefix + topic, self._rpc_exchange)

    def subscribe(self, event: str, callback: Callable[..., None]) -> None:
        with self._lock:
            self._subscribers[event].append(callback)
            if event not in self._event_queues:
                name = f"{self.prefix}events.{event}.{self._id}"
                self._event_queues[event] = Queue(
                    name, self._event_exchange, routing_key=self.prefix + event, exclusive=True, auto_delete=True
                )
        self._queues_changed()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Block until the consumer is connected and consuming every queue asked for so far
        (so a notification sent after this reaches this process's subscribers)."""
        with self._generation:
            return self._generation.wait_for(lambda: self._ready.is_set() and self._consuming >= self._wanted, timeout)

    def _queues_changed(self) -> None:
        with self._generation:
            self._wanted += 1
        self._changes.set()

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._publishers_lock:
            for conn in self._all_publishers:
                conn.release()
            self._all_publishers.clear()

    # --- publishing -----------------------------------------------------------------------

    def _publish(
        self,
        body: str,
        *,
        exchange: Exchange | str,
        routing_key: str,
        declare: list[Queue | Exchange] | None = None,
        reply_to: str | None = None,
        correlation_id: str | None = None,
        deadline: float | None = None,
        expiration: float | None = None,
    ) -> None:
        """Publish persistently and wait for the broker's confirm, retrying a lost
        connection with backoff for at most ``deadline`` seconds (default: the RPC timeout).
        ``expiration`` (seconds) drops the message if nobody consumed it by then."""
        budget = deadline or self.rpc_timeout
        retries = max(1, int(budget / BACKOFF["interval_max"]) + 3)
        conn = self._checkout()
        try:
            producer = Producer(conn)
            try:
                producer.publish(
                    body,
                    exchange=exchange,
                    routing_key=routing_key,
                    declare=declare or [],
                    serializer=None,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    reply_to=reply_to,
                    correlation_id=correlation_id,
                    expiration=expiration,
                    retry=True,
                    retry_policy={"max_retries": retries, **BACKOFF},
                )
            except Exception as exc:  # noqa: BLE001 - any transport failure after retries
                raise ServiceUnavailable(f"message broker unreachable: {exc}") from None
        finally:
            self._publishers.put(conn)

    def _checkout(self) -> Connection:
        """A free publisher connection (made on demand, up to ``publishers``; then wait)."""
        try:
            return self._publishers.get_nowait()
        except queue.Empty:
            pass
        with self._publishers_lock:
            if self._publishers_made < self._max_publishers:
                self._publishers_made += 1
                conn = self._connection(transport_options={"confirm_publish": True})
                self._all_publishers.append(conn)
                return conn
        return self._publishers.get()

    def _connection(self, **options: Any) -> Connection:
        """A kombu connection to the broker, over TLS with ``ssl`` (a fresh copy each time:
        kombu writes the server's name into it)."""
        if self._ssl is not None:
            options["ssl"] = dict(self._ssl)
        return Connection(self.url, **options)

    # --- consuming ------------------------------------------------------------------------

    def _queues(self) -> list[Queue]:
        with self._lock:
            reply = Queue(self._reply_name, exchange="", routing_key=self._reply_name, exclusive=True, auto_delete=True)
            return [reply, *(self._topic_queue(t) for t in self._handlers), *self._event_queues.values()]

    def _consume_forever(self) -> None:
        while not self._stopped.is_set():
            try:
                with self._connection(heartbeat=10) as conn:
                    conn.ensure_connection(max_retries=None, errback=self._log_retry, **BACKOFF)
                    self._consume(conn)
            except Exception as exc:  # noqa: BLE001 - never let a broker problem kill the process
                with self._generation:
                    self._ready.clear()
                    self._consuming = 0
                if not self._stopped.is_set():
                    log.warning("message broker connection lost (%s); reconnecting", exc)
                    self._stopped.wait(1.0)

    def _consume(self, conn: Connection) -> None:
        while not self._stopped.is_set():
            self._changes.clear()
            with self._generation:
                generation = self._wanted
            channel = conn.channel()
            channel.basic_qos(0, 32, False)
            # on_message, not callbacks: kombu would decode every body's JSON for a callback,
            # and the raw text is what is handled (decoded once, where it is used)
            consumer = Consumer(channel, queues=self._queues(), on_message=self._on_message, no_ack=False, accept=None)
            with consumer:
                with self._generation:
                    self._consuming = generation
                    self._ready.set()
                    self._generation.notify_all()
                while not self._stopped.is_set() and not self._changes.is_set():
                    self._flush_acks()
                    try:
                        conn.drain_events(timeout=0.2)
                    except socket.timeout:
                        conn.heartbeat_check()
                self._flush_acks()
            channel.close()

    def _flush_acks(self) -> None:
        while True:
            try:
                message = self._acks.get_nowait()
            except queue.Empty:
                return
            message.ack()

    def _log_retry(self, exc: Exception, interval: float) -> None:
        log.warning("message broker unreachable (%s); retrying in %.1f s", exc, interval)

    def _on_message(self, message: Any) -> None:
        raw = message.body  # the raw envelope, undecoded
        text = raw.decode() if isinstance(raw, bytes) else raw
        routing_key = message.delivery_info.get("routing_key", "")
        exchange = message.delivery_info.get("exchange", "")
        if routing_key == self._reply_name:
            future = self._pending.get(message.properties.get("correlation_id", ""))
            if future is not None and not future.done():
                future.set_result(text)
            message.ack()
        elif exchange == self._event_exchange.name:
            try:
                _, payload = decode(text)
            except (ValueError, KeyError) as exc:  # acked all the same: redelivery cannot fix it
                log.error("dropping an undecodable notification on %s: %s", routing_key, exc)
            else:
                for callback in list(self._subscribers.get(routing_key[len(self.prefix) :], ())):
                    self._pool.submit(callback, **payload)
            message.ack()
        elif self._seen_before(message):
            message.ack()
        else:
            self._pool.submit(self._handle_request, routing_key[len(self.prefix) :], text, message)

    def _seen_before(self, message: Any) -> bool:
        """Whether this request (by correlation id) was handled or is running already; a
        finished one's reply is sent again."""
        cid = message.properties.get("correlation_id")
        if not cid:
            return False
        with self._handled_lock:
            if cid not in self._handled:
                self._handled[cid] = None
                while len(self._handled) > 4096:
                    self._handled.popitem(last=False)
                return False
            reply = self._handled[cid]
        log.warning("request %s delivered again; answering it without running it twice", cid)
        reply_to = message.properties.get("reply_to")
        if reply is not None and reply_to:
            self._pool.submit(self._publish, reply, exchange="", routing_key=reply_to, correlation_id=cid)
        return True

    def _handle_request(self, topic: str, text: str, message: Any) -> None:
        try:  # handle_request answers every failure with an error reply; the ack is kept regardless
            reply = handle_request(self._handlers.get(topic), topic, text)
            cid = message.properties.get("correlation_id")
            if cid:
                with self._handled_lock:
                    self._handled[cid] = reply
            reply_to = message.properties.get("reply_to")
            if reply_to:
                self._publish(
                    reply, exchange="", routing_key=reply_to, correlation_id=message.properties.get("correlation_id")
                )
        finally:
            self._acks.put(message)  # acked on the consumer thread, after the reply is out
