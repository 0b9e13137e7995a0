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
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# zlib-ng's CRC-32 (with carry-less multiply) gives zlib.crc32's values about 15 times as
# fast (0.02 against 0.3 ms/MiB here): an upload bound by its md5 and sha512 cannot spare more
from zlib_ng import zlib_ng

from overcast.errors import BadRequest, DriverError, PayloadTooLarge
from overcast.image.inspect import Inspection, StreamInspector

HASH_ALGO = "sha512"
#: data a hash thread may have waiting (at least :data:`MIN_QUEUED` batches): enough that a
#: hash is never idle for want of data while the thread feeding it waits for the CPU
QUEUED_BYTES = 8 * 1024 * 1024
MIN_QUEUED = 3
#: chunks are handed to a hash thread in batches of at least this many bytes
BATCH_BYTES = 2 * 1024 * 1024

log = logging.getLogger(__name__)


class UploadAborted(BadRequest):
    """The client's data did not arrive whole or did not match what it declared."""


@dataclass(frozen=True)
class UploadResult:
    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str
    crc32: int
    inspection: Inspection | None


class Crc32:
    """zlib's CRC-32 behind hashlib's ``update``/``hexdigest`` (``value`` is the int)."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, chunk: bytes) -> None:
        self.value = zlib_ng.crc32(chunk, self.value)

    def hexdigest(self) -> str:
        return f"{self.value:08x}"


class BackgroundHash:
    """Hashes updated in their own thread (hashlib and zlib-ng release the GIL on large
    buffers), so the digests of an upload are computed on other cores than the one
    receiving and writing the data, each thread on its own copy-free view of the chunk.
    Chunks cross to the thread in batches of at least :data:`BATCH_BYTES`: each hand-over
    may put a thread to sleep and wake it, which costs about as much as hashing a few
    hundred KiB on this kind of machine (a VM)."""

    _DONE = object()

    def __init__(self, algo: str, *more: Crc32) -> None:
        self._hash = hashlib.new(algo)
        self._more = more
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(MIN_QUEUED, QUEUED_BYTES // BATCH_BYTES))
        self._batch: list[bytes] = []
        self._batched = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"hash-{algo}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not self._DONE:
            try:
                for chunk in batch:  # type: ignore[attr-defined]
                    self._hash.update(chunk)
                    for other in self._more:
                        other.update(chunk)
            except BaseException as exc:  # noqa: BLE001 - reported by hexdigest()
                self._error = exc
            del batch  # the chunks may go back to their pool

    def update(self, chunk: bytes) -> None:
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched >= BATCH_BYTES:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._batch:
            batch, self._batch, self._batched = self._batch, [], 0
            self._queue.put(batch)

    def close(self) -> None:
        if self._thread.is_alive():
            self._hand_over()
            self._queue.put(self._DONE)
            self._thread.join()
        self._batch, self._batched = [], 0

    def hexdigest(self) -> str:
        self.close()
        if self._error is not None:
            raise self._error
        return self._hash.hexdigest()


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
        hash_algo: str = HASH_ALGO,
        require_format_match: bool = True,
    ) -> None:
        self._chunks = chunks
        self._declared_size = declared_size
        self._declared_md5 = (declared_md5 or "").lower() or None
        self._declared_sha256 = (declared_sha256 or "").lower() or None
        self._max_size = max_size
        self._inspector = StreamInspector(disk_format, require_match=require_format_match) if inspect else None
        self._hash_algo = hash_algo
        self._md5: BackgroundHash | None = None
        self._os_hash: BackgroundHash | None = None
        self._sha256: BackgroundHash | None = None
        self._crc32 = Crc32()
        self.received = 0
        self.result: UploadResult | None = None

    def __iter__(self) -> Iterator[bytes]:
        inspector = self._inspector
        early_checked = False
        # crc32 (cheap) rides with sha512, the faster of the two (md5 ~1.4 ms/MiB, sha512
        # ~1.25 on x86-64), so the two threads finish about together
        self._md5 = BackgroundHash("md5")
        self._os_hash = BackgroundHash(self._hash_algo, self._crc32)
        self._sha256 = BackgroundHash("sha256") if self._declared_sha256 else None
        hashes = [h for h in (self._os_hash, self._md5, self._sha256) if h is not None]
        try:
            for chunk in self._chunks:
                if not chunk:
                    continue
                self.received += len(chunk)
                self._check_size_bound()
                for h in hashes:
                    h.update(chunk)
                if inspector is not None:
                    inspector.feed(chunk)
                    if not early_checked and inspector.head_complete:
                        inspector.early_check()
                        early_checked = True
                yield chunk
            self.result = self._finish()
        finally:
            for h in hashes:
                h.close()

    def _check_size_bound(self) -> None:
        if self._declared_size is not None and self.received > self._declared_size:
            raise UploadAborted(f"Image data is larger than the declared size of {self._declared_size} bytes.")
        if self._max_size is not None and self.received > self._max_size:
            raise PayloadTooLarge(f"Image data exceeds the maximum image size of {self._max_size} bytes.")

    def _finish(self) -> UploadResult:
        if self._declared_size is not None and self.received != self._declared_size:
            raise UploadAborted(f"Image data ended after {self.received} of the declared {self._declared_size} bytes.")
        assert self._md5 is not None and self._os_hash is not None
        md5 = self._md5.hexdigest()
        if self._declared_md5 and self._declared_md5 != md5:
            raise UploadAborted(f"Image data has md5 {md5}, not the declared {self._declared_md5}.")
        if self._sha256 is not None and (sha256 := self._sha256.hexdigest()) != self._declared_sha256:
            raise UploadAborted(f"Image data has sha256 {sha256}, not the declared {self._declared_sha256}.")
        inspection = self._inspector.finish(self.received) if self._inspector is not None else None
        return UploadResult(
            self.received, md5, self._hash_algo, self._os_hash.hexdigest(), self._crc32.value, inspection
        )


class VerifiedStream:
    """Passes stored bytes on, hashing them as they go, and withholds the last chunk until
    they are verified: if they are not what was uploaded, it raises instead of sending it.

    The check is the CRC-32 recorded for the stored copy (fast enough not to slow a
    download; it guards against storage corruption, while clients verify the md5/sha512
    themselves); without one, the image's sha512. Raising before the last chunk aborts the
    HTTP transfer short of its ``Content-Length``, so a client never receives corrupted data
    as a complete download, and the data is read once."""

    def __init__(
        self, chunks: Iterable[bytes], *, size: int, crc32: int | None, algo: str, expected: str, what: str
    ) -> None:
        self._chunks = chunks
        self._size = size
        self._crc32 = crc32
        self._hash = None if crc32 is not None else hashlib.new(algo or "md5")
        self._expected = expected.lower()
        self._what = what

    def __iter__(self) -> Iterator[bytes]:
        seen, crc = 0, 0
        held: bytes | None = None
        try:
            for chunk in self._chunks:
                if not chunk:
                    continue
                seen += len(chunk)
                if self._hash is None:
                    crc = zlib_ng.crc32(chunk, crc)
                else:
                    self._hash.update(chunk)
                if held is not None:
                    yield held
                held = chunk
        finally:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        if self._hash is None:
            intact = crc == self._crc32
        else:
            intact = not self._expected or self._hash.hexdigest() == self._expected
        if seen != self._size or not intact:
            log.error(
                "stored data of %s does not match its recorded checksum (%d of %d bytes read)",
                self._what,
                seen,
                self._size,
            )
            raise DriverError(f"stored data of {self._what} is corrupt: it does not match its recorded checksum")
        if held is not None:
            yield held
