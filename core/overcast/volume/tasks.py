"""Background work for slow volume operations (create, copy, delete, upload).

The HTTP request records the intent (status ``creating``, ``deleting``, ...) and returns;
a worker thread does the driver work and records the outcome. A failure lands in the
resource's status (``error``...) with the reason, never in a lost exception.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class TaskRunner:
    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="volume-task")
        self._pending: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, name: str, func: Callable[..., Any], *args: Any) -> Future[Any]:
        def run() -> Any:
            try:
                return func(*args)
            except Exception:  # noqa: BLE001 - the task records its own outcome; this is a last resort
                log.exception("volume task %s failed", name)
                raise

        future = self._pool.submit(run)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait(self, timeout: float = 60.0) -> None:
        """Wait until no task is pending (tests, orderly shutdown)."""
        import concurrent.futures

        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            done, not_done = concurrent.futures.wait(pending, timeout=timeout)
            if not_done:
                raise TimeoutError(f"{len(not_done)} volume task(s) still running after {timeout} s")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
