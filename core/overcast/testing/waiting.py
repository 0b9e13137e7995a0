"""Waiting for a condition in tests: poll, never sleep a fixed time and hope."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T],
    what: str,
    timeout: float = 180.0,
    every: float = 1.0,
    detail: Callable[[], str] = lambda: "",
) -> T:
    """Call ``check`` every ``every`` seconds until it returns something truthy, and return that.
    After ``timeout`` seconds fail with an AssertionError naming ``what``, followed by
    ``detail()`` (say, the tail of a process's log). The defaults suit polling a real cloud
    through its CLI; in-process checks pass a shorter ``every``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = detail()
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}" + (f"\n{extra}" if extra else ""))
        time.sleep(every)
