"""``overcast.api.admission``: at most ``slots`` requests run at once, the others wait in
arrival order; a slot is given back when the response starts, when the request ends, or
after the lease; small bodies are received before a request queues."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from overcast.api.admission import Admission


class Recorder:
    """An ASGI app whose requests start, then wait for their ``gate`` before answering."""

    def __init__(self, respond_first: bool = False) -> None:
        self.started: list[str] = []
        self.bodies: dict[str, bytes] = {}
        self.gates: dict[str, asyncio.Event] = {}
        self.respond_first = respond_first

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        name = scope["path"]
        self.started.append(name)
        if scope["type"] == "http":
            message = await receive()
            self.bodies[name] = message.get("body", b"")
        if self.respond_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await self.gates.setdefault(name, asyncio.Event()).wait()
        if not self.respond_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _scope(path: str, body: bytes = b"", kind: str = "http") -> dict:
    headers = [(b"content-length", str(len(body)).encode())] if body else []
    return {"type": kind, "path": path, "method": "POST" if body else "GET", "headers": headers}


def _receive(body: bytes = b"", arrives: asyncio.Event | None = None) -> Any:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # the client stays connected
        if arrives is not None:
            await arrives.wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _noop_send(message: dict) -> None:
    return None


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def _run(app: Admission, path: str, body: bytes = b"", arrives: asyncio.Event | None = None) -> asyncio.Task:
    return asyncio.create_task(app(_scope(path, body), _receive(body, arrives), _noop_send))


def test_runs_at_most_slots_requests_in_arrival_order() -> None:
    async def scenario() -> None:
        inner = Recorder()
        app = Admission(inner, slots=2, lease=60)
        tasks = [_run(app, f"/r{i}") for i in range(5)]
        await _settle()
        assert inner.started == ["/r0", "/r1"]
        inner.gates["/r1"].set()
        await _settle()
        assert inner.started == ["/r0", "/r1", "/r2"]
        inner.gates["/r0"].set()
        inner.gates["/r2"].set()
        await _settle()
        assert inner.started == ["/r0", "/r1", "/r2", "/r3", "/r4"]
        for name in ("/r3", "/r4"):
            inner.gates[name].set()
        await asyncio.gather(*tasks)
        assert app._free == 2 and not app._waiting

    asyncio.run(scenario())


def test_a_slot_is_given_back_when_the_response_starts() -> None:
    async def scenario() -> None:
        inner = Recorder(respond_first=True)  # a streamed download: headers, then a long body
        app = Admission(inner, slots=1, lease=60)
        first, second = _run(app, "/download"), _run(app, "/other")
        await _settle()
        assert inner.started == ["/download", "/other"]
        inner.gates["/download"].set()
        inner.gates["/other"].set()
        await asyncio.gather(first, second)
        assert app._free == 1

    asyncio.run(scenario())


def test_a_request_holds_its_slot_no_longer_than_the_lease() -> None:
    async def scenario() -> None:
        inner = Recorder()
        app = Admission(inner, slots=1, lease=0.05)
        slow, queued = _run(app, "/slow"), _run(app, "/queued")
        await _settle()
        assert inner.started == ["/slow"]
        await asyncio.sleep(0.1)
        assert inner.started == ["/slow", "/queued"]  # the lease ran out; /slow runs on
        inner.gates["/queued"].set()
        await queued
        inner.gates["/slow"].set()
        await slow
        assert app._free == 1  # the lease's release and the end's are one release

    asyncio.run(scenario())


def test_a_small_body_is_received_before_the_request_queues() -> None:
    async def scenario() -> None:
        inner = Recorder()
        app = Admission(inner, slots=1, lease=60)
        arrives = asyncio.Event()
        sending = _run(app, "/still-sending", b'{"a": 1}', arrives)  # its body is not here yet
        ready = _run(app, "/ready", b'{"b": 2}')
        await _settle()
        assert inner.started == ["/ready"]  # the slot did not wait on a client still sending
        arrives.set()
        inner.gates["/ready"].set()
        await _settle()
        assert inner.started == ["/ready", "/still-sending"]
        assert inner.bodies == {"/ready": b'{"b": 2}', "/still-sending": b'{"a": 1}'}  # replayed intact
        inner.gates["/still-sending"].set()
        await asyncio.gather(sending, ready)

    asyncio.run(scenario())


def test_websockets_are_not_queued() -> None:
    async def scenario() -> None:
        inner = Recorder()
        app = Admission(inner, slots=1, lease=60)
        held = _run(app, "/held")
        console = asyncio.create_task(app(_scope("/console", kind="websocket"), _receive(), _noop_send))
        await _settle()
        assert inner.started == ["/held", "/console"]
        inner.gates["/held"].set()
        inner.gates["/console"].set()
        await asyncio.gather(held, console)

    asyncio.run(scenario())


def test_a_client_gone_while_queued_leaves_no_slot_lost() -> None:
    async def scenario() -> None:
        inner = Recorder()
        app = Admission(inner, slots=1, lease=60)
        first = _run(app, "/first")
        gone = _run(app, "/gone")
        last = _run(app, "/last")
        await _settle()
        gone.cancel()
        await _settle()
        inner.gates["/first"].set()
        await _settle()
        assert inner.started == ["/first", "/last"]
        inner.gates["/last"].set()
        await asyncio.gather(first, last)
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert app._free == 1 and not app._waiting

    asyncio.run(scenario())


def test_slots_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Admission(Recorder(), slots=0)


def test_every_request_is_counted_from_arrival_to_end() -> None:
    """Queued or running, a request counts as served (the background tasks wait for none);
    with ``slots=None`` none is queued and each is still counted."""

    async def scenario(slots: int | None) -> None:
        inner = Recorder()
        app = Admission(inner, slots=slots, lease=60)
        tasks = [_run(app, f"/r{i}") for i in range(3)]
        await _settle()
        assert app.foreground.serving == 3
        assert inner.started == (["/r0"] if slots == 1 else ["/r0", "/r1", "/r2"])
        for i in range(3):
            inner.gates.setdefault(f"/r{i}", asyncio.Event()).set()
            await _settle()
        await asyncio.gather(*tasks)
        assert app.foreground.serving == 0

    asyncio.run(scenario(1))
    asyncio.run(scenario(None))


def test_a_request_that_fails_is_no_longer_counted() -> None:
    async def failing(scope: dict, receive: Any, send: Any) -> None:
        raise RuntimeError("the app failed")

    async def scenario() -> None:
        app = Admission(failing, slots=None)
        with pytest.raises(RuntimeError):
            await app(_scope("/x"), _receive(), _noop_send)
        assert app.foreground.serving == 0

    asyncio.run(scenario())
