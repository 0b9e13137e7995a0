"""Cutting a volume into backup chunks, and putting it back together (issue 18).

The same scheme as Cinder's chunked backup drivers: the volume's bytes are cut into fixed
chunks (``[volume] backup_chunk_mb``, 32 MiB by default), each one hashed, compressed (zstd
or zlib, or stored as is when that would not make it smaller) and written as one object
``<prefix>-00001``... to the backup target (a ``backup_*`` driver); then a metadata object
``<prefix>_metadata`` lists every chunk: offset, length, its digest under the key that names
the hash (``xxh3_128``; backups made before it was used have ``sha256``, and still restore),
the object holding it and its compression. A chunk of zeros is listed with no object (a
sparse volume costs nothing). An incremental backup reads its parent's list and, where a
chunk's digest (with the parent's hash for that chunk, which the new entry keeps: a chain of
incrementals keeps its full backup's hash) is unchanged, lists the parent's object instead of
writing a new one: each index is whole on its own, so a restore reads one index. A restore
checks every chunk's digest before it writes it.

The chunk digest detects changes and corruption, not tampering: xxh3_128 (0.1 ms of CPU per
MiB here, sha256 0.75 ms: a sixth of a whole backup's) is not a cryptographic hash, so a
volume's owner could craft a chunk that collides with the same chunk of the parent backup,
and only spoil their own incremental backup. The object store checks each object's own MD5
ETag as Swift does.

The same reader copies a volume onto another backend's volume for a migration
(:func:`copy_device`, :func:`digest_device`): chunk by chunk, holes and zero chunks skipped
when the destination reads as zeros, every chunk hashed so the copy can be checked.

This runs where the volume's data is (``overcast.agent.volume.VolumeAgent``), on a raw
file or block device the volume driver opened (``vol_open_local``). Chunks are read,
hashed, compressed and sent by ``BackupJob.workers`` threads at once (``pread``/``pwrite``,
the hashes, zlib and zstd release the GIL), with at most twice that many chunks in memory. A
backup reads each chunk into a reused buffer (:class:`~overcast.buffers.BufferPool`): a new
32 MiB ``bytes`` per chunk costs more in page faults than the copy itself. A restore reads
each chunk from the target into a reused page-aligned buffer (the driver's ``get_into``,
where it has one) and, once its digest checks out, writes it to the volume from there
(:class:`ChunkWriter`, ``O_DIRECT``): the kernel's copies only.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import mmap
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import xxhash

from overcast.buffers import BufferPool, populated
from overcast.errors import DriverError, NotFound
from overcast.hookspecs import BackupHooks
from overcast.types import Backend, BackupJob, BackupResult, LocalDevice

INDEX_VERSION = 1
COMPRESSIONS = ("zstd", "zlib", "none")

#: the chunk digests an index may hold, by the key that holds them; new chunks get DIGEST
DIGESTS: dict[str, Callable[[bytes | memoryview], Any]] = {"xxh3_128": xxhash.xxh3_128, "sha256": hashlib.sha256}
DIGEST = "xxh3_128"


def digest(method: str, data: bytes | memoryview) -> str:
    return str(DIGESTS[method](data).hexdigest())


def digest_of(entry: dict[str, Any]) -> tuple[str, str]:
    """The hash a chunk entry was listed with and its digest."""
    for method in DIGESTS:
        if isinstance(entry.get(method), str):
            return method, entry[method]
    raise DriverError(f"the backup's index lists a chunk with no known digest (offset {entry.get('offset')})")


def chunk_name(prefix: str, number: int) -> str:
    return f"{prefix}-{number:05d}"


def metadata_name(prefix: str) -> str:
    return f"{prefix}_metadata"


@dataclass
class ChunkStore:
    """The backup target of one job: a ``backup_*`` driver, its ``[backup]`` table and the
    project's container."""

    driver: BackupHooks
    backend: Backend
    job: BackupJob

    def put(self, name: str, data: bytes | memoryview) -> None:
        self.driver.put(backend=self.backend, target=self.job.target, name=name, data=data)

    def get(self, name: str) -> bytes:
        return self.driver.get(backend=self.backend, target=self.job.target, name=name)

    def get_into(self, name: str, buffer: memoryview) -> bytes | memoryview:
        """Object ``name``: read into ``buffer`` (and a view of it returned) where the driver
        can, else as its own ``bytes``."""
        if self.driver.supports("get_into"):
            length = self.driver.get_into(backend=self.backend, target=self.job.target, name=name, buffer=buffer)
            return buffer[:length]
        return self.get(name)

    def read_index(self, prefix: str) -> dict[str, Any]:
        try:
            raw = self.get(metadata_name(prefix))
        except NotFound:
            raise DriverError(f"the backup's metadata object {metadata_name(prefix)} is missing") from None
        try:
            index = json.loads(raw)
        except ValueError:
            raise DriverError(f"the backup's metadata object {metadata_name(prefix)} is not valid JSON") from None
        if (
            not isinstance(index, dict)
            or index.get("version") != INDEX_VERSION
            or not isinstance(index.get("chunks"), list)
        ):
            raise DriverError(f"the backup's metadata object {metadata_name(prefix)} is not an Overcast chunk index")
        return index


# --- compression ------------------------------------------------------------------------------

_local = threading.local()


def _zstd() -> Any:
    try:
        import zstandard
    except ModuleNotFoundError:  # pragma: no cover - a declared dependency
        raise DriverError("zstd compression needs the zstandard package (pip install zstandard)") from None
    return zstandard


#: a chunk whose first SAMPLE bytes do not shrink by 3% is stored as is (random or already
#: compressed data: compressing all of it would cost time and save nothing)
SAMPLE = 256 * 1024


def compress(data: bytes | memoryview, method: str) -> tuple[bytes | memoryview, str]:
    """``data`` compressed with ``method``, or as is (``"none"``) if that is not smaller."""
    if method in ("zstd", "zlib") and len(data) > 4 * SAMPLE:
        probe, _ = compress(data[:SAMPLE], method)
        if len(probe) > 0.97 * SAMPLE:
            return data, "none"
    if method == "zstd":
        comp = getattr(_local, "zstd_c", None)
        if comp is None:
            comp = _local.zstd_c = _zstd().ZstdCompressor(level=1)  # one per thread: not thread-safe
        out = comp.compress(data)
    elif method == "zlib":
        out = zlib.compress(data, 1)
    elif method == "none":
        return data, "none"
    else:
        raise DriverError(f"unknown backup compression {method!r} (use one of {', '.join(COMPRESSIONS)})")
    return (out, method) if len(out) < len(data) else (data, "none")


def decompress(data: bytes | memoryview, method: str, length: int) -> bytes | memoryview:
    if method == "none":
        return data
    if method == "zstd":
        dec = getattr(_local, "zstd_d", None)
        if dec is None:
            dec = _local.zstd_d = _zstd().ZstdDecompressor()
        return bytes(dec.decompress(data, max_output_size=length))
    if method == "zlib":
        return zlib.decompress(data)
    raise DriverError(f"backup chunk compressed with unknown method {method!r}")


# --- reading and writing the device -------------------------------------------------------------

_zeros: dict[int, bytes] = {}


def zeros(length: int) -> bytes:
    buf = _zeros.get(length)
    if buf is None:
        buf = _zeros.setdefault(length, bytes(length))
    return buf


def has_data(fd: int, offset: int, length: int) -> bool:
    """Whether ``[offset, offset+length)`` may hold data: ``False`` only when the file system
    says it is a hole (``SEEK_DATA``); block devices and file systems without it say nothing."""
    try:
        found = os.lseek(fd, offset, os.SEEK_DATA)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no data from offset to the end
            return False
        return True
    return found < offset + length


def read_into(fd: int, view: memoryview, offset: int) -> None:
    """Fill ``view`` with the bytes at ``offset``."""
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if not got:
            raise DriverError(f"the volume's data ends at byte {offset + done}, before its size")
        done += got


def read_exact(fd: int, length: int, offset: int) -> bytes:
    data = os.pread(fd, length, offset)
    while len(data) < length:
        more = os.pread(fd, length - len(data), offset + len(data))
        if not more:
            raise DriverError(f"the volume's data ends at byte {offset + len(data)}, before its size")
        data += more
    return data


def _ordered(pool: ThreadPoolExecutor, window: int, tasks: Iterator[Callable[[], Any]]) -> Iterator[Any]:
    """Run ``tasks`` on ``pool`` with at most ``window`` in flight; results in order."""
    pending: list[Future[Any]] = []
    for task in tasks:
        pending.append(pool.submit(task))
        if len(pending) >= window:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()


# --- backup -----------------------------------------------------------------------------------


def backup_device(device: LocalDevice, store: ChunkStore, volume_id: str) -> BackupResult:
    """Back up ``device`` into ``store``; the metadata object is written last, so a backup
    whose index exists is whole."""
    job = store.job
    parent: dict[int, dict[str, Any]] = {}
    if job.parent_prefix:
        for entry in store.read_index(job.parent_prefix)["chunks"]:
            parent[int(entry["offset"])] = entry
    size, step = device.size, job.chunk_size
    buffers = BufferPool(lambda: populated(min(step, size) or 1), keep=job.workers)
    fd = os.open(device.path, os.O_RDONLY)
    try:

        def one(number: int, offset: int) -> dict[str, Any]:
            length = min(step, size - offset)
            entry: dict[str, Any] = {"offset": offset, "length": length}
            if not has_data(fd, offset, length):
                return {**entry, DIGEST: zero_digest(DIGEST, length), "object": None}
            buffer = buffers.take()
            data = memoryview(buffer)[:length]
            read_into(fd, data, offset)
            old = parent.get(offset)
            # compared with the parent's hash for this chunk (an older backup's sha256)
            method = digest_of(old)[0] if old and old.get("object") else DIGEST
            found = digest(method, data)
            if found == zero_digest(method, length) and bytes(data) == zeros(length):
                return {**entry, method: found, "object": None}
            if old and old.get("object") and digest_of(old)[1] == found and int(old["length"]) == length:
                return {
                    **entry,
                    method: found,
                    "object": old["object"],
                    "compression": old["compression"],
                    "stored": int(old.get("stored", 0)),
                    "reused": True,
                }
            payload, compression = compress(data, job.compression)
            name = chunk_name(job.object_prefix, number)
            store.put(name, payload)
            return {**entry, method: found, "object": name, "compression": compression, "stored": len(payload)}

        tasks = ((lambda n=n, o=o: one(n, o)) for n, o in enumerate(range(0, size, step), start=1))
        with ThreadPoolExecutor(max_workers=job.workers, thread_name_prefix="backup-chunk") as pool:
            chunks = list(_ordered(pool, 2 * job.workers, tasks))
    finally:
        os.close(fd)
    written = [c for c in chunks if c["object"] and not c.get("reused")]
    index = {
        "version": INDEX_VERSION,
        "backup_id": job.backup_id,
        "volume_id": volume_id,
        "volume_size": size,
        "chunk_size": step,
        "parent_prefix": job.parent_prefix or None,
        "chunks": [{k: v for k, v in c.items() if k != "reused"} for c in chunks],
    }
    store.put(metadata_name(job.object_prefix), json.dumps(index, separators=(",", ":")).encode())
    return BackupResult(
        size_bytes=size,
        chunks=len(chunks),
        objects=len(written) + 1,
        stored_bytes=sum(int(c["stored"]) for c in written),
        zero_chunks=sum(1 for c in chunks if not c["object"]),
        reused_chunks=sum(1 for c in chunks if c.get("reused")),
    )


_ZERO_DIGESTS: dict[tuple[str, int], str] = {}


def zero_digest(method: str, length: int) -> str:
    """The digest of ``length`` zero bytes."""
    found = _ZERO_DIGESTS.get((method, length))
    if found is None:
        found = _ZERO_DIGESTS.setdefault((method, length), digest(method, zeros(length)))
    return found


# --- restore ----------------------------------------------------------------------------------


#: a restored chunk whose offset and length are multiples of this is written with O_DIRECT
DIRECT_ALIGN = 4096


class ChunkWriter:
    """Whole chunks written onto a volume: where offset and length allow, with ``O_DIRECT``
    from a page-aligned buffer (a chunk read into one of :meth:`buffer`'s is written from
    where it is; other data is copied into one first) rather than through the page cache,
    whose buffered writes cost this kind of machine (a VM) several times the CPU in the
    kernel (see ``overcast_storage_fs.durable.DirectWriter`` for figures); otherwise, or
    where the file system or device refuses ``O_DIRECT``, with a plain ``pwrite``.
    :meth:`sync` makes both durable (``fsync`` is per file, whichever descriptor wrote)."""

    def __init__(self, path: str, step: int, workers: int) -> None:
        self.fd = os.open(path, os.O_WRONLY)
        try:
            self.direct: int | None = os.open(path, os.O_WRONLY | os.O_DIRECT)
        except OSError:
            self.direct = None
        # closed only by close(): a refused direct write stops its use, but other restore
        # threads may still be writing through it
        self._direct_fd = self.direct
        # a chunk read into one buffer, and a decompressed one copied into another, per thread
        self.buffers = BufferPool(lambda: populated(step), keep=2 * workers)
        self.step = step

    def buffer(self) -> mmap.mmap:
        """A page-aligned buffer of a chunk's size that no one else uses (keep a reference
        while it is in use)."""
        return self.buffers.take()

    def write(self, data: bytes | memoryview, offset: int) -> None:
        length = len(data)
        direct = self.direct
        if direct is not None and length <= self.step and not (offset | length) % DIRECT_ALIGN:
            if isinstance(data, memoryview) and _page_aligned(data):
                block = data
            else:
                buffer = self.buffers.take()
                block = memoryview(buffer)[:length]
                block[:] = data
            try:
                if os.pwrite(direct, block, offset) == length:
                    return
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
            self.direct = None  # refused (or short): this and every later chunk through the page cache
        if os.pwrite(self.fd, data, offset) != length:
            raise DriverError(f"short write at byte {offset} of the volume")

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)
        if self._direct_fd is not None:
            os.close(self._direct_fd)
            self.direct = self._direct_fd = None


def _page_aligned(view: memoryview) -> bool:
    """Whether ``view`` starts at a page boundary (as a view of an anonymous ``mmap`` does
    from its start), so ``O_DIRECT`` can write it as it is."""
    if view.readonly or not view.contiguous or not len(view):
        return False
    return ctypes.addressof(ctypes.c_char.from_buffer(view)) % mmap.PAGESIZE == 0


def restore_device(device: LocalDevice, store: ChunkStore) -> BackupResult:
    """Write the backup ``store.job`` names onto ``device``, checking each chunk's digest
    before it is written; raises ``DriverError`` on the first bad or missing chunk."""
    index = store.read_index(store.job.object_prefix)
    size = int(index["volume_size"])
    if device.size < size:
        raise DriverError(f"the volume holds {device.size} bytes, the backup {size}")
    chunks = index["chunks"]
    step = max(1, min(size, max([int(c.get("length", 0)) for c in chunks if isinstance(c, dict)] + [1])))
    out = ChunkWriter(device.path, step, store.job.workers)
    try:

        def one(entry: dict[str, Any]) -> int:
            offset, length = int(entry["offset"]), int(entry["length"])
            if offset < 0 or length <= 0 or offset + length > size:
                raise DriverError(f"the backup's index lists a chunk outside the volume (offset {offset})")
            if not entry.get("object"):
                if not device.zeroed:
                    out.write(zeros(length), offset)
                return 0
            buffer = out.buffer()  # the chunk is read into it, and written to the volume from it
            try:
                payload = store.get_into(str(entry["object"]), memoryview(buffer))
            except NotFound:
                raise DriverError(f"backup object {entry['object']} is missing") from None
            method, expected = digest_of(entry)
            data = decompress(payload, str(entry.get("compression", "none")), length)
            if len(data) != length or digest(method, data) != expected:
                raise DriverError(f"backup object {entry['object']} does not match its {method}: the backup is corrupt")
            out.write(data, offset)
            return len(payload)

        tasks = ((lambda e=e: one(e)) for e in chunks)
        with ThreadPoolExecutor(max_workers=store.job.workers, thread_name_prefix="restore-chunk") as pool:
            read = list(_ordered(pool, 2 * store.job.workers, tasks))
        out.sync()
    finally:
        out.close()
    return BackupResult(
        size_bytes=size,
        chunks=len(chunks),
        objects=sum(1 for c in chunks if c.get("object")),
        stored_bytes=sum(read),
        zero_chunks=sum(1 for c in chunks if not c.get("object")),
    )


# --- copy (volume migration between backends) ----------------------------------------------------


def _combined(digests: list[str]) -> str:
    """One sha256 over the chunks' sha256s, in order: equal exactly when every chunk is."""
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def copy_device(src: LocalDevice, dst: LocalDevice, step: int, workers: int) -> str:
    """Copy ``src``'s bytes onto the writable ``dst`` (at least as big), ``workers`` chunks of
    ``step`` bytes at once; the combined sha256 of what was read (see :func:`digest_device`)."""
    if dst.size < src.size:
        raise DriverError(f"the destination holds {dst.size} bytes, the source {src.size}")
    size = src.size
    rfd = os.open(src.path, os.O_RDONLY)
    try:
        wfd = os.open(dst.path, os.O_WRONLY)
        try:

            def one(offset: int) -> str:
                length = min(step, size - offset)
                data = read_exact(rfd, length, offset) if has_data(rfd, offset, length) else zeros(length)
                if data == zeros(length):
                    if not dst.zeroed:
                        os.pwrite(wfd, data, offset)
                    return zero_digest("sha256", length)
                if os.pwrite(wfd, data, offset) != length:
                    raise DriverError(f"short write at byte {offset} of the destination volume")
                return hashlib.sha256(data).hexdigest()

            tasks = ((lambda o=o: one(o)) for o in range(0, size, step))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="copy-chunk") as pool:
                digests = list(_ordered(pool, 2 * workers, tasks))
            os.fsync(wfd)
        finally:
            os.close(wfd)
    finally:
        os.close(rfd)
    return _combined(digests)


def digest_device(device: LocalDevice, size: int, step: int, workers: int) -> str:
    """The combined sha256 of ``device``'s first ``size`` bytes, cut as :func:`copy_device` cuts."""
    if device.size < size:
        raise DriverError(f"the volume holds {device.size} bytes, expected at least {size}")
    fd = os.open(device.path, os.O_RDONLY)
    try:

        def one(offset: int) -> str:
            length = min(step, size - offset)
            if not has_data(fd, offset, length):
                return zero_digest("sha256", length)
            return hashlib.sha256(read_exact(fd, length, offset)).hexdigest()

        tasks = ((lambda o=o: one(o)) for o in range(0, size, step))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="digest-chunk") as pool:
            return _combined(list(_ordered(pool, 2 * workers, tasks)))
    finally:
        os.close(fd)
