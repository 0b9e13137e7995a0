"""The Fernet key repository, laid out and rotated the way Keystone's is.

Keys are files named by integers in one directory (mode 0700, files 0600):

* ``0`` is the *staged* key: not yet used to sign, but already accepted, so every process
  has it before it becomes primary;
* the highest number is the *primary* key, which signs new tokens;
* the others are *secondary* keys, which only validate tokens signed before a rotation.

``rotate()`` promotes the staged key to primary (``max + 1``), writes a new staged key and
drops the oldest secondaries beyond ``max_active_keys``. Tokens signed by a dropped key
stop validating: that is how keys retire.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

from overcast.errors import ConfigError


class KeyRepository:
    """Reads and rotates the keys in ``directory``; :meth:`fernet` reloads after a rotation
    by another process (checked at most every ``recheck_seconds``)."""

    def __init__(self, directory: Path, max_active_keys: int = 3, recheck_seconds: float = 1.0) -> None:
        if max_active_keys < 2:
            raise ConfigError(f"[identity] max_active_keys: must be at least 2, got {max_active_keys}")
        self.directory = Path(directory)
        self.max_active_keys = max_active_keys
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._fernet: MultiFernet | None = None
        self._stamp: tuple[int, ...] = ()
        self._checked = 0.0

    # --- layout -------------------------------------------------------------------------

    def exists(self) -> bool:
        return bool(self._key_numbers())

    def setup(self) -> None:
        """Create the directory with a staged and a primary key, unless keys exist."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        if self.exists():
            return
        self._write(0, Fernet.generate_key())
        self._write(1, Fernet.generate_key())
        self._invalidate()

    def rotate(self) -> int:
        """Promote the staged key, stage a new one, retire the oldest. Returns the new
        primary key's number."""
        numbers = self._key_numbers()
        if not numbers:
            raise ConfigError(f"{self.directory}: no Fernet keys (run 'overcast init')")
        new_primary = max(numbers) + 1
        staged = self._read(0)
        self._write(new_primary, staged)
        self._write(0, Fernet.generate_key())
        secondaries = sorted(n for n in numbers if n != 0)
        # keep staged + primary + (max_active_keys - 2) secondaries
        keep = self.max_active_keys - 2
        excess = secondaries[: max(0, len(secondaries) - keep)]
        for number in excess:
            (self.directory / str(number)).unlink(missing_ok=True)
        self._invalidate()
        return new_primary

    def key_numbers(self) -> list[int]:
        return sorted(self._key_numbers())

    # --- use ----------------------------------------------------------------------------

    def fernet(self) -> MultiFernet:
        """Primary first (it encrypts), then the secondaries newest first, then staged."""
        now = time.monotonic()
        if self._fernet is not None and now - self._checked < self.recheck_seconds:
            return self._fernet
        with self._lock:
            stamp = self._stamp_now()
            if self._fernet is None or stamp != self._stamp:
                self._fernet = self._load()
                self._stamp = stamp
            self._checked = now
            return self._fernet

    def _load(self) -> MultiFernet:
        numbers = self._key_numbers()
        if not numbers or max(numbers) == 0:
            raise ConfigError(f"{self.directory}: no Fernet keys (run 'overcast init' or 'overcast keys rotate')")
        ordered = sorted((n for n in numbers if n != 0), reverse=True) + ([0] if 0 in numbers else [])
        return MultiFernet([Fernet(self._read(n)) for n in ordered])

    # --- files --------------------------------------------------------------------------

    def _key_numbers(self) -> set[int]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return set()
        return {int(n) for n in names if n.isdigit()}

    def _stamp_now(self) -> tuple[int, ...]:
        try:
            st = os.stat(self.directory)
        except FileNotFoundError:
            return ()
        return (st.st_mtime_ns, st.st_ino, len(self._key_numbers()))

    def _read(self, number: int) -> bytes:
        return (self.directory / str(number)).read_bytes().strip()

    def _write(self, number: int, key: bytes) -> None:
        """Write atomically (temp file, fsync, rename) so a reader never sees half a key."""
        final = self.directory / str(number)
        tmp = self.directory / f".{number}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)

    def _invalidate(self) -> None:
        with self._lock:
            self._fernet = None
