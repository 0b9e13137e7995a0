"""The ``fs`` image_store driver: each image is one file ``<path>/<image_id>``.

Data is written to an unnamed file (``O_TMPFILE``) in ``<path>/.tmp`` while it streams in
(with ``O_DIRECT`` where the file system allows it: see :func:`_write_all`), fsynced, then linked under its final name (and the directory fsynced): a crash never leaves a
torn image under a final name, and an upload that dies leaves no file at all. Where the file
system has no ``O_TMPFILE``, the data goes to ``<path>/.tmp/<image_id>.<random>`` instead and
is renamed; each such writer holds an ``flock`` on its temp file, and temp files whose lock is
free (left behind by a process that died) are swept at start (``img_init_store``) and before
each write. Locations are ``file://<path>/<image_id>``; a location outside ``path`` is refused.
"""

from __future__ import annotations

import errno
import fcntl
import io
import mmap
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

from overcast.buffers import BufferPool, anonymous
from overcast.errors import BadRequest, DriverError, NotFound
from overcast.hookspecs import hookimpl
from overcast.types import Backend, ConfigOption, DriverKind, StoredImage

from overcast_storage_fs.durable import DIRECT_ALIGN, DirectWriter, fsync_dir, set_direct

OPTIONS: list[ConfigOption] = [
    ConfigOption(DriverKind.IMAGE_STORE, "fs", "path", str, required=True, help="directory that holds the data"),
]

SCHEME = "file"
READ_CHUNK = 4 * 1024 * 1024
#: how far ahead of the reader the kernel is asked to fetch (``POSIX_FADV_WILLNEED``), so
#: the disk reads the next chunks while the current one is verified and sent
READ_AHEAD = 4 * READ_CHUNK
FLUSH_EVERY = 32 * 1024 * 1024
#: ``O_DIRECT`` reads of :data:`READ_CHUNK` kept in flight by a download
DIRECT_READS = 2
#: A temp file is swept only when unlocked and at least this old, so a writer that has
#: just created its file and not yet locked it is never mistaken for a dead one.
ABANDONED_AFTER = 60.0
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


def _store_dir(backend: Backend) -> Path:
    raw = str(backend.options.get("path") or "")
    if not raw:
        raise DriverError(f"image store '{backend.name}': option 'path' is not set")
    path = Path(raw)
    if not path.is_absolute():
        base = Path(backend.state_dir) if backend.state_dir else Path.cwd()
        path = base / path
    return path


class _Flusher:
    """Writes dirty pages back in a second thread while the stream is still being written
    (``fdatasync`` every :data:`FLUSH_EVERY` bytes), so the final fsync has little left to do
    and disk I/O overlaps with receiving and hashing."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._wanted = threading.Event()
        self._stop = False
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="fs-image-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stop:
                return
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                self.error = exc
                return

    def kick(self) -> None:
        self._wanted.set()

    def stop(self) -> None:
        self._stop = True
        self._wanted.set()
        self._thread.join()


def _sweep_abandoned(tmp_dir: Path) -> int:
    """Remove temp files of writers that died (their flock is free and they are old);
    returns how many were removed."""
    removed = 0
    try:
        names = os.listdir(tmp_dir)
    except FileNotFoundError:
        return 0
    now = time.time()
    for name in names:
        path = tmp_dir / name
        try:
            if now - path.stat().st_mtime < ABANDONED_AFTER:
                continue
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live writer
        else:
            path.unlink(missing_ok=True)
            removed += 1
        finally:
            os.close(fd)
    return removed


def _open_unnamed(tmp_dir: Path) -> int | None:
    """An unnamed file in ``tmp_dir`` (gone if we die before linking it), or None where the
    file system cannot make one."""
    try:
        return os.open(tmp_dir, os.O_TMPFILE | os.O_WRONLY, 0o640)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None
        raise


def _publish_unnamed(fd: int, tmp_dir: Path, final: Path) -> None:
    """Give the unnamed file ``fd`` the name ``final``, replacing an orphan of that name.
    (``linkat`` with ``AT_SYMLINK_FOLLOW`` through ``/proc/self/fd``; ``os.link`` only uses
    ``linkat`` when given a directory fd, and plain ``link`` fails with EXDEV there.)"""
    proc_path = f"/proc/self/fd/{fd}"
    dir_fd = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            os.link(proc_path, final.name, dst_dir_fd=dir_fd, follow_symlinks=True)
        except FileExistsError:
            tmp = tmp_dir / f"{final.name}.{secrets.token_hex(8)}"
            os.link(proc_path, tmp, dst_dir_fd=dir_fd, follow_symlinks=True)
            try:
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
    finally:
        os.close(dir_fd)


class FsImageStore:
    """Images as files in one directory."""

    def _file_of(self, backend: Backend, location: str) -> Path:
        parts = urlsplit(location)
        if parts.scheme != SCHEME:
            raise BadRequest(f"image store '{backend.name}' cannot serve location scheme '{parts.scheme}'")
        path = Path(unquote(parts.path))
        root = _store_dir(backend).resolve()
        if path.parent.resolve() != root or not _SAFE_ID.match(path.name):
            raise BadRequest(f"location {location!r} is outside image store '{backend.name}'")
        return path

    @hookimpl
    def img_init_store(self, backend: Backend) -> bool:
        root = _store_dir(backend)
        tmp_dir = root / ".tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DriverError(f"image store '{backend.name}': cannot use {root}: {exc}") from exc
        if not os.access(root, os.W_OK):
            raise DriverError(f"image store '{backend.name}': {root} is not writable")
        _sweep_abandoned(tmp_dir)
        return True

    @hookimpl
    def img_add(self, backend: Backend, image_id: str, data: Iterable[bytes], size: int | None) -> StoredImage:
        if not _SAFE_ID.match(image_id):
            raise BadRequest(f"invalid image id {image_id!r}")
        root = _store_dir(backend)
        tmp_dir = root / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        _sweep_abandoned(tmp_dir)
        final = root / image_id
        tmp: Path | None = None
        fd = _open_unnamed(tmp_dir)
        if fd is None:
            tmp = tmp_dir / f"{image_id}.{secrets.token_hex(8)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            written = _write_all(fd, data)
            if tmp is None:
                _publish_unnamed(fd, tmp_dir, final)
            else:
                os.replace(tmp, final)
            fsync_dir(root)
        except BaseException:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        return StoredImage(location=f"{SCHEME}://{final}", size=written)

    @hookimpl
    def img_get(self, backend: Backend, location: str, offset: int, length: int | None) -> Iterator[bytes]:
        path = self._file_of(backend, location)
        try:
            if offset % DIRECT_ALIGN == 0:
                direct = _open_direct(path)
                if direct is not None:
                    return _read_direct(direct, offset, length)
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            raise NotFound(f"no image data at {location}") from None
        return _read_range(handle, offset, length)

    @hookimpl
    def img_delete(self, backend: Backend, location: str) -> bool:
        path = self._file_of(backend, location)
        path.unlink(missing_ok=True)
        return True

    @hookimpl
    def img_get_size(self, backend: Backend, location: str) -> int:
        path = self._file_of(backend, location)
        try:
            return path.stat().st_size
        except FileNotFoundError:
            raise NotFound(f"no image data at {location}") from None


def _write_all(fd: int, data: Iterable[bytes]) -> int:
    """Write the stream to ``fd`` and fsync it; returns the byte count.

    With ``O_DIRECT`` (when the file system accepts it) the data goes from one aligned
    buffer straight to the disk: no copy into the page cache and no dirty-page writeback,
    which costs the server about as much CPU as hashing and is slower than the disk
    itself. Otherwise it is written through the page cache, flushed in the background."""
    written = _write_direct(fd, data) if set_direct(fd, True) else _write_buffered(fd, data)
    os.fsync(fd)
    return written


def _write_direct(fd: int, data: Iterable[bytes]) -> int:
    """The stream through :class:`~overcast_storage_fs.durable.DirectWriter` (whole blocks
    with ``O_DIRECT``, the short last one buffered; it reaches the disk with the final fsync)."""
    written = 0
    with DirectWriter(fd) as out:
        for chunk in data:
            out.write(chunk)
            written += len(chunk)
        out.finish()
    return written


def _write_buffered(fd: int, data: Iterable[bytes]) -> int:
    """Write through the page cache; dirty pages are flushed in the background while it
    streams (see :class:`_Flusher`)."""
    written = 0
    flusher = _Flusher(fd)
    try:
        next_flush = FLUSH_EVERY
        for chunk in data:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            written += len(chunk)
            if written >= next_flush:
                flusher.kick()
                next_flush = written + FLUSH_EVERY
    finally:
        flusher.stop()
    if flusher.error is not None:
        raise flusher.error
    return written


def _open_direct(path: Path) -> io.FileIO | None:
    """``path`` opened for ``O_DIRECT`` reads (a file object, closed when dropped even if
    never read), or None where the file system refuses them."""
    try:
        return io.FileIO(os.open(path, os.O_RDONLY | os.O_DIRECT), "rb", closefd=True)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return None
        raise


def _read_direct(handle: io.FileIO, offset: int, length: int | None) -> Iterator[bytes]:
    """Yield the file's bytes from ``offset`` (aligned), read with ``O_DIRECT`` into aligned
    buffers: the disk writes straight into them, with no page-cache pages to fill and copy
    from (as ``dd iflag=direct`` reads). :data:`DIRECT_READS` reads are kept in flight in
    helper threads while the caller checks and sends what was read, so the disk is never
    idle waiting for the CPU. Chunks are read-only views of pooled buffers, not copies: a
    buffer is read into again only once nothing refers to its view (see ``BufferPool``)."""
    fd = handle.fileno()
    end = None if length is None else offset + length
    pool = BufferPool(lambda: anonymous(READ_CHUNK), keep=2 * DIRECT_READS + 2)
    readers = ThreadPoolExecutor(max_workers=DIRECT_READS, thread_name_prefix="fs-image-read")
    inflight: deque[tuple[Future[int], mmap.mmap, int]] = deque()  # (read, buffer, position)
    next_position = offset

    def submit() -> None:
        nonlocal next_position
        if end is None or next_position < end:
            buffer = pool.take()
            inflight.append((readers.submit(os.preadv, fd, [buffer], next_position), buffer, next_position))
            next_position += READ_CHUNK

    try:
        for _ in range(DIRECT_READS):
            submit()
        while inflight:
            read, buffer, position = inflight.popleft()
            n = read.result()
            if end is not None:
                n = min(n, end - position)
            if n <= 0:
                return
            chunk = memoryview(buffer).toreadonly()[:n]
            del buffer
            if n < READ_CHUNK:  # the end of the file or of the range
                yield chunk
                return
            submit()
            yield chunk
            del chunk
    finally:
        readers.shutdown(wait=True)
        handle.close()


def _read_range(handle, offset: int, length: int | None) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
    """Yield the file's bytes from ``offset``; the file is opened before the first ``next``
    so a missing file is reported by ``img_get`` itself, not mid-stream."""
    with handle:
        fd = handle.fileno()
        os.posix_fadvise(fd, offset, length or 0, os.POSIX_FADV_SEQUENTIAL)
        if offset:
            handle.seek(offset)
        position, remaining = offset, length
        while remaining is None or remaining > 0:
            want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
            ahead = READ_AHEAD if remaining is None else min(READ_AHEAD, remaining - want)
            if ahead > 0:
                os.posix_fadvise(fd, position + want, ahead, os.POSIX_FADV_WILLNEED)
            chunk = handle.read(want)
            if not chunk:
                return
            position += len(chunk)
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk
