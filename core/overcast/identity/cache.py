"""A small thread-safe cache with a time limit and a size bound, for lookups on the
token validation path (users, projects, role sets, validated tokens).

``clear()`` starts a new epoch: a value loaded before a clear (read from the database
before a write that caused the clear) is not stored after it, so no stale entry survives.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

_MISSING = object()


class TTLCache(Generic[V]):
    def __init__(self, ttl: float, max_entries: int = 10000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self.epoch = 0

    def get(self, key: Hashable) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            with self._lock:
                self._data.pop(key, None)
            return None
        return entry[1]

    def put(self, key: Hashable, value: V, epoch: int | None = None) -> None:
        """Store ``value``, unless it was loaded in an ``epoch`` that a clear has ended."""
        with self._lock:
            if epoch is not None and epoch != self.epoch:
                return
            self._data[key] = (time.monotonic() + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        value = self.get(key)
        if value is None:
            epoch = self.epoch
            value = load()
            self.put(key, value, epoch)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.epoch += 1
