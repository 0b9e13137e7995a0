"""Requests being served by this process, so that background work can let them go first.

An API process runs its server builds (and other compute tasks) in threads beside the
requests it serves, and they share one GIL and the machine's cores. Under a burst of
requests (100 concurrent ``server create``), builds started by the first answers took CPU
from the requests still waiting for theirs, and every 202 came later. So the HTTP layer
counts the requests in flight here (:func:`serving`), and a background task waits for a
moment with none (:func:`wait_for_quiet`) before it starts, but never longer than it was
told: a stream of requests or one long upload delays a build by that bound, not forever.

The count is per process: each API worker answers its own requests and runs its own
tasks. A forked child starts from zero.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_quiet = threading.Condition(threading.Lock())
_in_flight = 0


def _reset_after_fork() -> None:
    global _quiet, _in_flight
    _quiet = threading.Condition(threading.Lock())
    _in_flight = 0


os.register_at_fork(after_in_child=_reset_after_fork)


@contextmanager
def serving() -> Iterator[None]:
    """Count a request as in flight for the duration of the block."""
    global _in_flight
    with _quiet:
        _in_flight += 1
    try:
        yield
    finally:
        with _quiet:
            _in_flight -= 1
            if not _in_flight:
                _quiet.notify_all()


def in_flight() -> int:
    """The requests this process is serving now."""
    return _in_flight


def wait_for_quiet(longest: float) -> float:
    """Wait until this process serves no request, at most ``longest`` seconds; the seconds
    waited. Call it from a background thread, never from the event loop."""
    if not _in_flight or longest <= 0:
        return 0.0
    started = time.monotonic()
    with _quiet:
        _quiet.wait_for(lambda: not _in_flight, timeout=longest)
    return time.monotonic() - started
