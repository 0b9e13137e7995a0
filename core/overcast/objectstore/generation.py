"""A change counter shared by the processes that serve one data directory (the API process
and the ``[objectstore] workers``): an 8-byte memory-mapped file. A writer bumps it after its
database commit; a reader compares it with the value a cached record was read under, so a
change made through any process is seen by the next request in every other (a memory read
per lookup, no syscall)."""

from __future__ import annotations

import fcntl
import mmap
import os
from pathlib import Path


class SharedGeneration:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < 8:
            os.ftruncate(self._fd, 8)  # zeros; harmless if another process did it first
        self._map = mmap.mmap(self._fd, 8)

    def value(self) -> int:
        return int.from_bytes(self._map[:8], "little")

    def bump(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._map[:8] = ((self.value() + 1) % 2**64).to_bytes(8, "little")
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if not self._map.closed:
            self._map.close()
            os.close(self._fd)
