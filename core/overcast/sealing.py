"""Secrets the services keep in the database, encrypted at rest (Fernet, AES-128-CBC + HMAC).

The key is one file, ``<data_dir>/secret-key`` (0600, made on first use, as the Fernet token
keys are kept beside it): a copy of the database alone does not give away what it seals.
Controllers that share a database must share this file, as they share the token keys.

What is sealed today: Swift's TempURL keys (``X-Account-Meta-Temp-URL-Key``,
``X-Container-Meta-Temp-URL-Key`` and their ``-2``), which let anyone who holds them sign URLs.
(Passwords and application-credential secrets are not stored at all: only their hashes are.)

A value written before sealing existed does not decrypt and is read as it is; the next write of
it seals it. A plaintext that happens to decrypt would have to be a token made with this key.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)

KEY_FILE = "secret-key"


class Sealer:
    """Seals and opens short secrets with the key in ``key_file`` (created 0600 if missing)."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = Path(key_file)
        self._fernet: Fernet | None = None
        self._lock = threading.Lock()

    def _key(self) -> Fernet:
        if self._fernet is None:
            with self._lock:
                if self._fernet is None:
                    self._fernet = Fernet(self._read_or_create())
        return self._fernet

    def _read_or_create(self) -> bytes:
        try:
            return self.key_file.read_bytes().strip()
        except FileNotFoundError:
            pass
        from overcast.datadir import private_dir

        if not self.key_file.parent.is_dir():
            # made private only when it is made here: the data dir that usually holds the key
            # keeps its mode (QEMU's group passes through it to the instances and images)
            private_dir(self.key_file.parent)
        key = Fernet.generate_key()
        try:  # O_EXCL: two processes starting at once agree on the first one's key
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.key_file.read_bytes().strip()
        with os.fdopen(fd, "wb") as out:
            out.write(key)
            out.flush()
            os.fsync(out.fileno())
        log.info("made the key that seals secrets at rest", extra={"path": str(self.key_file)})
        return key

    def seal(self, plain: str) -> str:
        return self._key().encrypt(plain.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        try:
            return self._key().decrypt(stored.encode("ascii")).decode()
        except (InvalidToken, UnicodeEncodeError):
            return stored  # written before sealing: read as it is, sealed at its next write


def is_secret_meta(name: str) -> bool:
    """Whether a (lower-case) metadata header holds a secret to seal: a TempURL key."""
    return "temp-url-key" in name


def seal_meta(sealer: Sealer, meta: dict[str, str]) -> dict[str, str]:
    return {k: sealer.seal(v) if is_secret_meta(k) and v else v for k, v in meta.items()}


def open_meta(sealer: Sealer, meta: dict[str, str]) -> dict[str, str]:
    return {k: sealer.open(v) if is_secret_meta(k) and v else v for k, v in meta.items()}
