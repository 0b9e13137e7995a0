"""The ``unix://`` bus: API workers reach ``overcast up``'s topics (and each other) through
its hub, with the same envelopes, errors and timeouts as the in-process bus."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.bus.rpc import client, rpc
from overcast.bus.unix import BusHub, UnixBus
from overcast.bus import RemoteError
from overcast.errors import Conflict, ServiceUnavailable
from overcast.types import Flavor


class Counter:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.done = threading.Event()

    @rpc
    def add(self, a: int, b: int) -> int:
        return a + b

    @rpc
    def flavor_name(self, flavor: Flavor) -> str:
        assert isinstance(flavor, Flavor)
        return flavor.name

    @rpc
    def refuse(self) -> None:
        raise Conflict("guest is paused")

    @rpc
    def crash(self) -> None:
        raise KeyError("internal detail")

    @rpc
    def slow(self, seconds: float) -> bool:
        time.sleep(seconds)
        return True

    @rpc
    def remember(self, text: str) -> None:
        self.seen.append(text)
        self.done.set()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[BusHub]:
    bus = BusHub(tmp_path / "bus.sock", rpc_timeout=5)
    try:
        yield bus
    finally:
        bus.close()


@pytest.fixture
def worker(hub: BusHub) -> Iterator[UnixBus]:
    bus = UnixBus(hub.path, rpc_timeout=5)
    try:
        yield bus
    finally:
        bus.close()


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_worker_calls_a_topic_served_in_the_parent(hub: BusHub, worker: UnixBus) -> None:
    hub.serve("compute", Counter())
    stub = client(worker, "compute", Counter)
    assert stub.add(a=2, b=3) == 5
    assert stub.flavor_name(flavor=Flavor(id="1", name="m1.tiny", vcpus=1, memory_mb=64, root_gb=1)) == "m1.tiny"
    assert worker.call("compute", "add", a=1, b=1) == 2


def test_errors_come_back_as_their_class(hub: BusHub, worker: UnixBus) -> None:
    hub.serve("compute", Counter())
    with pytest.raises(Conflict, match="guest is paused"):
        worker.call("compute", "refuse")
    with pytest.raises(RemoteError, match="KeyError"):
        worker.call("compute", "crash")
    with pytest.raises(ServiceUnavailable, match="nothing is serving 'nowhere'"):
        worker.call("nowhere", "add", a=1, b=2)
    with pytest.raises(ServiceUnavailable, match="has no method 'missing'"):
        worker.call("compute", "missing")


def test_a_call_that_takes_too_long_times_out(hub: BusHub, worker: UnixBus) -> None:
    hub.serve("compute", Counter())
    t0 = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="did not answer 'slow' in time"):
        worker.call("compute", "slow", timeout=0.3, seconds=2)
    assert time.monotonic() - t0 < 1.5
    assert worker.call("compute", "add", a=1, b=2) == 3  # the connection is still good


def test_casts_reach_the_parent_and_the_parent_reaches_a_worker(hub: BusHub, worker: UnixBus) -> None:
    parent_side, worker_side = Counter(), Counter()
    hub.serve("compute", parent_side)
    worker.serve("worker.1", worker_side)
    worker.cast("compute", "remember", text="from the worker")
    assert parent_side.done.wait(5)
    assert parent_side.seen == ["from the worker"]
    wait_for(lambda: "worker.1" in hub._remote)
    assert hub.call("worker.1", "add", a=4, b=5) == 9
    hub.cast("worker.1", "remember", text="from the parent")
    assert worker_side.done.wait(5)
    assert worker_side.seen == ["from the parent"]


def test_workers_reach_each_other(hub: BusHub, worker: UnixBus) -> None:
    other = UnixBus(hub.path, rpc_timeout=5)
    try:
        other.serve("worker.2", Counter())
        wait_for(lambda: "worker.2" in hub._remote)
        assert worker.call("worker.2", "add", a=20, b=22) == 42
    finally:
        other.close()


def test_notifications_fan_out_to_every_process(hub: BusHub, worker: UnixBus) -> None:
    got: list[tuple[str, dict]] = []
    lock = threading.Lock()

    def on(who: str):  # type: ignore[no-untyped-def]
        def callback(**payload: object) -> None:
            with lock:
                got.append((who, dict(payload)))

        return callback

    hub.subscribe("notifications.info", on("parent"))
    worker.subscribe("notifications.info", on("worker"))
    wait_for(lambda: any("notifications.info" in p.events for p in hub._peers))
    worker.notify("notifications.info", event_type="compute.instance.create.end", n=1)
    hub.notify("notifications.info", event_type="volume.create.end", n=2)
    wait_for(lambda: len(got) == 4)
    assert sorted((who, p["n"]) for who, p in got) == [("parent", 1), ("parent", 2), ("worker", 1), ("worker", 2)]


def test_no_hub_is_a_clear_error(tmp_path: Path) -> None:
    bus = UnixBus(tmp_path / "absent.sock")
    with pytest.raises(ServiceUnavailable, match="unreachable"):
        bus.call("compute", "add", a=1, b=2)


def test_the_hub_going_away_fails_waiting_calls_at_once(hub: BusHub, worker: UnixBus) -> None:
    hub.serve("compute", Counter())
    assert worker.call("compute", "add", a=1, b=1) == 2
    result: list[BaseException] = []

    def wait_on_slow() -> None:
        try:
            worker.call("compute", "slow", seconds=3, timeout=30)
        except BaseException as exc:  # noqa: BLE001
            result.append(exc)

    thread = threading.Thread(target=wait_on_slow)
    thread.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    hub.close()
    thread.join(10)
    assert time.monotonic() - t0 < 5  # not the 30 s timeout
    assert result and isinstance(result[0], ServiceUnavailable)
    with pytest.raises(ServiceUnavailable, match="gone|closed"):
        worker.call("compute", "add", a=1, b=1)


def _serve_in_a_child(path: str, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    bus = UnixBus(path, rpc_timeout=5)
    bus.serve("worker.child", Counter())
    ready.set()
    time.sleep(60)


def test_a_worker_process_that_dies(hub: BusHub, worker: UnixBus) -> None:
    """Calls waiting on a worker that is killed fail at once; its topic is no longer served."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_serve_in_a_child, args=(str(hub.path), ready), daemon=True)
    child.start()
    try:
        assert ready.wait(30)
        wait_for(lambda: "worker.child" in hub._remote, timeout=10)
        assert worker.call("worker.child", "add", a=1, b=2) == 3
        errors: list[BaseException] = []

        def call_slow() -> None:
            try:
                worker.call("worker.child", "slow", seconds=20, timeout=30)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        thread = threading.Thread(target=call_slow)
        thread.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        thread.join(10)
        assert time.monotonic() - t0 < 5
        assert errors and isinstance(errors[0], ServiceUnavailable)
        assert "went away" in str(errors[0])
        wait_for(lambda: "worker.child" not in hub._remote)
        with pytest.raises(ServiceUnavailable, match="nothing is serving 'worker.child'"):
            worker.call("worker.child", "add", a=1, b=2)
        assert hub.peers == 1  # the live worker is still connected
    finally:
        child.kill()
        child.join(5)
