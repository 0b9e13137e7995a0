"""Requests before background work: the HTTP requests this process is serving, and a wait for
a moment when it serves none.

A server's build (and every other compute task) runs in a thread of the API process that
took the request, on the one GIL its event loop also needs. Given 100 creates at once, the
builds of the first ones started while most of the others were still being parsed,
authenticated and written, and each of their steps took the GIL from those requests: the
clients waited for their ``202`` about twice as long as with the builds held back
(``bench/compute_create.py``). A task now waits, before it starts, until the process serves
no request, or until :data:`PATIENCE` seconds after it was submitted, whichever comes first:
under a steady load every task still starts, only that much later, and the rate at which
tasks run is not changed.
"""

from __future__ import annotations

import threading
import time

#: the longest a task waits for the process to serve no request (seconds, from its submission)
PATIENCE = 0.25


class Foreground:
    """The count of requests being served; :meth:`enter` and :meth:`leave` are called by the
    API's outermost layer (:class:`overcast.api.admission.Admission`), :meth:`wait_quiet` by
    the threads that run background work."""

    def __init__(self) -> None:
        self._serving = 0
        self._quiet = threading.Condition(threading.Lock())

    @property
    def serving(self) -> int:
        return self._serving

    def enter(self) -> None:
        with self._quiet:
            self._serving += 1

    def leave(self) -> None:
        with self._quiet:
            self._serving -= 1
            if not self._serving:
                self._quiet.notify_all()

    def wait_quiet(self, until: float) -> bool:
        """Block until no request is being served, or until ``until`` (``time.monotonic()``)
        has passed; True if the process is quiet."""
        with self._quiet:
            while self._serving:
                left = until - time.monotonic()
                if left <= 0:
                    return False
                self._quiet.wait(left)
            return True
