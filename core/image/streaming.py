"""Streams that hash, count and inspect image data as it passes, never holding it whole.

:class:`UploadStream` wraps incoming chunks for the store: md5 (``checksum``) and sha512
(``os_hash_value``) are computed on the way, the byte count is checked against the declared
size, and the format inspector sees the head and tail. Any refusal raises from inside the
iteration, so the store removes what it wrote (the ``img_add`` contract).

:class:`VerifiedStream` wraps what the store returns on download and fails the transfer if
the bytes read back do not hash to what was recorded at upload.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from overcast.errors import BadRequest, DriverError, PayloadTooLarge
from overcast.image.inspect import Inspection, StreamInspector

HASH_ALGO = "sha512"


class UploadAborted(BadRequest):
    """The client's data did not arrive whole or did not match what it declared."""


@dataclass(frozen=True)
class UploadResult:
    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str
    inspection: Inspection | None


class UploadStream:
    """Iterate this to pass the data on; read :attr:`result` after the iteration ended."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        disk_format: str | None,
        inspect: bool,
        declared_size: int | None = None,
        declared_md5: str | None = None,
        declared_sha256: str | None = None,
        max_size: int | None = None,
    ) -> None:
        self._chunks = chunks
        self._declared_size = declared_size
        self._declared_md5 = (declared_md5 or "").lower() or None
        self._declared_sha256 = (declared_sha256 or "").lower() or None
        self._max_size = max_size
        self._inspector = StreamInspector(disk_format) if inspect else None
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha512 = hashlib.sha512()
        self._sha256 = hashlib.sha256() if self._declared_sha256 else None
        self.received = 0
        self.result: UploadResult | None = None

    def __iter__(self) -> Iterator[bytes]:
        inspector = self._inspector
        early_checked = False
        for chunk in self._chunks:
            if not chunk:
                continue
            self.received += len(chunk)
            self._check_size_bound()
            self._md5.update(chunk)
            self._sha512.update(chunk)
            if self._sha256 is not None:
                self._sha256.update(chunk)
            if inspector is not None:
                inspector.feed(chunk)
                if not early_checked and inspector.head_complete:
                    inspector.early_check()
                    early_checked = True
            yield chunk
        self.result = self._finish()

    def _check_size_bound(self) -> None:
        if self._declared_size is not None and self.received > self._declared_size:
            raise UploadAborted(
                f"Image data is larger than the declared size of {self._declared_size} bytes."
            )
        if self._max_size is not None and self.received > self._max_size:
            raise PayloadTooLarge(f"Image data exceeds the maximum image size of {self._max_size} bytes.")

    def _finish(self) -> UploadResult:
        if self._declared_size is not None and self.received != self._declared_size:
            raise UploadAborted(
                f"Image data ended after {self.received} of the declared {self._declared_size} bytes."
            )
        md5 = self._md5.hexdigest()
        if self._declared_md5 and self._declared_md5 != md5:
            raise UploadAborted(f"Image data has md5 {md5}, not the declared {self._declared_md5}.")
        if self._sha256 is not None and self._sha256.hexdigest() != self._declared_sha256:
            raise UploadAborted(
                f"Image data has sha256 {self._sha256.hexdigest()}, not the declared {self._declared_sha256}."
            )
        inspection = self._inspector.finish(self.received) if self._inspector is not None else None
        return UploadResult(self.received, md5, HASH_ALGO, self._sha512.hexdigest(), inspection)


class VerifiedStream:
    """Passes stored bytes on and raises at the end if they are not what was uploaded.

    Raising mid-response aborts the HTTP transfer, so a client never receives corrupted data
    as a complete, successful download."""

    def __init__(self, chunks: Iterable[bytes], *, size: int, algo: str, expected: str, what: str) -> None:
        self._chunks = chunks
        self._size = size
        self._hash = hashlib.new(algo) if algo else hashlib.md5(usedforsecurity=False)
        self._expected = expected.lower()
        self._what = what

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        try:
            for chunk in self._chunks:
                seen += len(chunk)
                self._hash.update(chunk)
                yield chunk
        finally:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        if seen != self._size or (self._expected and self._hash.hexdigest() != self._expected):
            raise DriverError(f"stored data of {self._what} is corrupt: it does not match its recorded checksum")
