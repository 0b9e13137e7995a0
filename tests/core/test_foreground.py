"""``overcast.foreground``: background tasks wait for a moment when the process serves no
request, never longer than their patience."""

from __future__ import annotations

import threading
import time

from overcast.compute.tasks import TaskRunner
from overcast.foreground import Foreground


def test_wait_quiet_returns_at_once_when_nothing_is_served() -> None:
    assert Foreground().wait_quiet(time.monotonic() + 10) is True


def test_wait_quiet_ends_when_the_last_request_leaves() -> None:
    fg = Foreground()
    fg.enter()
    fg.enter()
    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(fg.wait_quiet(time.monotonic() + 30)))
    waiter.start()
    fg.leave()
    waiter.join(0.2)
    assert waiter.is_alive(), "one request is still being served"
    fg.leave()
    waiter.join(5)
    assert results == [True]


def test_wait_quiet_gives_up_at_its_deadline() -> None:
    fg = Foreground()
    fg.enter()
    t0 = time.monotonic()
    assert fg.wait_quiet(t0 + 0.1) is False
    assert 0.09 <= time.monotonic() - t0 < 5


def test_a_task_starts_once_the_requests_are_served() -> None:
    fg = Foreground()
    runner = TaskRunner(2, fg, patience=30)
    started = threading.Event()
    fg.enter()
    try:
        runner.submit("build x", started.set)
        assert not started.wait(0.3), "the task started while a request was being served"
        fg.leave()
        assert started.wait(5)
    finally:
        runner.close()


def test_a_task_starts_after_its_patience_under_a_steady_load() -> None:
    fg = Foreground()
    runner = TaskRunner(2, fg, patience=0.2)
    started: list[float] = []
    fg.enter()  # never leaves: the process is always serving
    try:
        t0 = time.monotonic()
        runner.submit("build x", lambda: started.append(time.monotonic()))
        assert runner.wait_idle(5)
        assert started and 0.19 <= started[0] - t0 < 5
    finally:
        runner.close()


def test_without_a_foreground_tasks_start_at_once() -> None:
    runner = TaskRunner(1)
    done = threading.Event()
    try:
        runner.submit("build x", done.set)
        assert done.wait(2)
    finally:
        runner.close()
