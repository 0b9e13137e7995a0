"""``overcast.foreground``: the requests a process is serving, and background work (server
tasks) that starts once they are answered, never later than its bound."""

from __future__ import annotations

import threading
import time

from overcast import foreground
from overcast.compute import tasks
from overcast.compute.tasks import TaskRunner


def test_serving_counts_requests_in_flight() -> None:
    assert foreground.in_flight() == 0
    with foreground.serving():
        with foreground.serving():
            assert foreground.in_flight() == 2
        assert foreground.in_flight() == 1
    assert foreground.in_flight() == 0


def test_wait_for_quiet_returns_when_the_last_request_ends() -> None:
    assert foreground.wait_for_quiet(5.0) == 0.0  # nothing in flight: no wait at all
    entered, leave = threading.Event(), threading.Event()

    def request() -> None:
        with foreground.serving():
            entered.set()
            leave.wait(5)

    thread = threading.Thread(target=request)
    thread.start()
    entered.wait(5)
    threading.Timer(0.1, leave.set).start()
    waited = foreground.wait_for_quiet(5.0)
    thread.join()
    assert 0.05 < waited < 2.0


def test_wait_for_quiet_is_bounded() -> None:
    with foreground.serving():
        started = time.monotonic()
        foreground.wait_for_quiet(0.1)
        assert 0.08 < time.monotonic() - started < 1.0


def test_a_server_task_starts_after_the_request_that_started_it() -> None:
    runner = TaskRunner(2)
    ran_at: list[float] = []
    try:
        with foreground.serving():
            runner.submit("build x", lambda: ran_at.append(time.monotonic()))
            time.sleep(0.05)
            assert not ran_at  # it waits while the request is answered
            answered = time.monotonic()
        assert runner.wait_idle(5)
        assert ran_at and ran_at[0] >= answered
    finally:
        runner.close()


def test_a_server_task_does_not_wait_for_requests_forever(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(tasks, "YIELD_TO_REQUESTS", 0.1)
    runner = TaskRunner(1)
    done = threading.Event()
    try:
        with foreground.serving():  # a long upload, say
            runner.submit("build y", done.set)
            assert done.wait(2.0)
    finally:
        runner.close()
