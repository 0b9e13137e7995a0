"""A few requests at a time: the ones that came first are finished first.

One API process serves every request on one event loop, and the blocking part of each
(database, bus) in threads that share one GIL with it. Given 100 requests at once, asyncio
runs each one's first steps (parsing, routing, authentication) before any reaches its
thread, and then all of them a step at a time, so they finish together, near the end: the
median request waited about as long as the last (100 concurrent ``server create``: the first
reached its thread after 80 ms, the median was answered after 235 ms of a 276 ms burst).

:class:`Admission` lets ``slots`` requests run and queues the others in arrival order, so
requests finish at a steady rate and the median one waits about half the burst. A request
gives its slot back when its response starts, or when it ends, or after ``lease`` seconds at
most: an upload, a streamed download or a request that calls this same API over HTTP holds
a slot briefly, never for its whole length, so none can keep the others out. A small body
(a declared length up to :data:`PREREAD`, every API's JSON) is received before the request
queues, so a slot never waits on a client still sending. WebSockets (the consoles) and
lifespan events are not queued.

It also counts the requests being served for :class:`overcast.foreground.Foreground`, so the
process's background tasks wait for a moment with none (``slots=None``: counted, not queued).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from overcast.foreground import Foreground

#: requests run at once by one API process (``[api] request_slots``): enough to overlap their
#: waits on the database and the bus and to fill a group commit, few enough that each runs
#: nearly alone
SLOTS = 8
#: the longest a request holds its slot (seconds)
LEASE = 0.1
#: bodies of a declared length up to this are received before the request queues
PREREAD = 64 * 1024


class Admission:
    """ASGI middleware running at most ``slots`` HTTP requests at once (None: any number), in
    arrival order, each counted in ``foreground`` from its arrival to its end."""

    def __init__(
        self, app: Any, slots: int | None = SLOTS, lease: float = LEASE, foreground: Foreground | None = None
    ) -> None:
        if slots is not None and slots < 1:
            raise ValueError("slots must be at least 1")
        self.app = app
        self.slots = slots
        self.lease = lease
        self.foreground = foreground or Foreground()
        self._free = slots
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.foreground.enter()
        try:
            if self._free is None:
                await self.app(scope, receive, send)
            else:
                await self._admitted(scope, receive, send)
        finally:
            self.foreground.leave()

    async def _admitted(self, scope: dict, receive: Any, send: Any) -> None:
        receive = await _received(scope, receive)
        await self._acquire()
        held = True
        loop = asyncio.get_running_loop()

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self._release()

        timer = loop.call_later(self.lease, release)

        async def releasing_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, releasing_send)
        finally:
            timer.cancel()
            release()

    async def _acquire(self) -> None:
        if self._free and not self._waiting:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter  # a releasing request hands its slot over (see _release)
        except asyncio.CancelledError:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot just as the client went away: pass it on
            raise

    def _release(self) -> None:
        assert self._free is not None
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the oldest waiter
                return
        self._free += 1


async def _received(scope: dict, receive: Any) -> Any:
    """``receive`` for the app: the whole body already read when it is declared small, so the
    request is ready to run when it gets its slot; otherwise ``receive`` itself."""
    declared = None
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding":
            return receive  # chunked: its length is unknown until read
        if name == b"content-length":
            declared = value
    try:
        if declared is None or not 0 < int(declared) <= PREREAD:
            return receive
    except ValueError:
        return receive  # the body limit answers a malformed length
    messages: deque[dict] = deque()
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> dict:
        return messages.popleft() if messages else await receive()

    return replay
