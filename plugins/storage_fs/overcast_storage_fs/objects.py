"""The ``fs`` object_store driver: objects as files in hashed directories, one SQLite index
per container.

Layout under the backend's ``path``::

    data/<h[0:2]>/<h[2:4]>/<h>.<timestamp>.<nonce>.data   one file per object version
    index/<c[0:2]>/<c>.db                                  one SQLite (WAL) index per container
    quarantine/                                            corrupt files, moved aside

``h`` is the md5 of (account, container, name) and ``c`` that of (account, container), so a
user's name never becomes a path (no ``../`` or absolute path can escape) and 65,536
directories spread the files. The index is the source of truth: a row names the one data
file that holds the current version. A PUT writes a new uniquely named file, fsyncs it and
its directory (so the name survives a crash on any file system, not only ext4's ordered
journal), then
commits the row in one SQLite transaction and only then unlinks the old file. A crash at
any point leaves either the old or the new version visible (never a torn one); a half-written
file that no row names is an orphan, removed by ``obj_audit``. GET and listings read the same
index, so they always agree. Concurrent PUTs of one name keep the newest timestamp.

The index, its grouped commits and their durability are in
:mod:`overcast_storage_fs.objects_index`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from overcast.errors import BadRequest, Conflict, DriverError, NotFound, Unprocessable
from overcast.hookspecs import hookimpl
from overcast.types import Backend, ByteRange, ConfigOption, DriverKind, ObjectInfo, ObjectSubdir

from overcast_storage_fs.durable import DirectWriter, fsync_dir
from overcast_storage_fs.objects_index import ContainerIndex
from overcast_storage_fs.objects_listing import info_of, listing

log = logging.getLogger(__name__)

OPTIONS: list[ConfigOption] = [
    ConfigOption(DriverKind.OBJECT_STORE, "fs", "path", str, required=True, help="directory that holds the data"),
    ConfigOption(
        DriverKind.OBJECT_STORE,
        "fs",
        "fsync",
        bool,
        default=True,
        help="fsync data files and index commits before acknowledging a write",
    ),
]

MAX_NAME_BYTES = 1024
MAX_CONTAINER_BYTES = 256
CHUNK = 1024 * 1024
VERIFY_WHOLE_BELOW = 1024 * 1024  # smaller objects are read and verified before the first byte
ORPHAN_GRACE = 600.0  # seconds: an unindexed data file younger than this may be an in-flight PUT


def check_name(kind: str, value: str, limit: int) -> None:
    """Refuse names that are empty, overlong, not UTF-8 or contain NUL (400)."""
    if not value:
        raise BadRequest(f"{kind} name is empty")
    if "\x00" in value:
        raise BadRequest(f"{kind} name contains a NUL byte")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadRequest(f"{kind} name is not valid UTF-8") from None
    if size > limit:
        raise BadRequest(f"{kind} name is {size} bytes long; the limit is {limit}")


def _digest(*parts: str) -> str:
    return hashlib.md5("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


class FsObjectStore:
    """The driver object; one instance serves every ``fs`` object-store backend."""

    def __init__(self) -> None:
        self._indexes: dict[tuple[str, str, str], ContainerIndex] = {}
        self._dirs: set[str] = set()
        self._swept: set[str] = set()  # stores whose partial uploads this process removed
        self._lock = threading.Lock()

    # --- paths and indexes --------------------------------------------------------------

    @staticmethod
    def _root(backend: Backend) -> Path:
        return Path(backend.options["path"])

    def _index_path(self, backend: Backend, account: str, container: str) -> Path:
        c = _digest(account, container)
        return self._root(backend) / "index" / c[:2] / f"{c}.db"

    def _index(self, backend: Backend, account: str, container: str, create: bool = True) -> ContainerIndex | None:
        if backend.options["path"] not in self._swept:
            self._sweep(backend.options["path"])
        check_name("account", account, MAX_CONTAINER_BYTES)
        check_name("container", container, MAX_CONTAINER_BYTES)
        key = (backend.options["path"], account, container)
        index = self._indexes.get(key)
        if index is not None and index.current():
            return index
        path = self._index_path(backend, account, container)
        if not create and not path.exists():
            return None
        with self._lock:
            index = self._indexes.get(key)
            if index is None or not index.current():
                path.parent.mkdir(parents=True, exist_ok=True)
                index = ContainerIndex(path, account, container, bool(backend.options.get("fsync", True)))
                self._indexes[key] = index
        return index

    def _sweep(self, root: str) -> None:
        """Once per process and store, in the background: remove partial uploads left by a
        writer that was killed (:func:`~overcast_storage_fs.objects_audit.remove_partial_uploads`)."""
        from overcast_storage_fs.objects_audit import remove_partial_uploads

        with self._lock:
            if root in self._swept:
                return
            self._swept.add(root)

        def sweep() -> None:
            try:
                remove_partial_uploads(Path(root))
            except Exception:  # noqa: BLE001 - a failed sweep only leaves garbage for the audit
                log.exception("sweeping partial uploads in %s failed", root)

        threading.Thread(target=sweep, name="object-partial-sweep", daemon=True).start()

    def _data_dir(self, backend: Backend, h: str) -> str:
        d = os.path.join(backend.options["path"], "data", h[:2], h[2:4])
        if d not in self._dirs:
            fsync = bool(backend.options.get("fsync", True))
            self._make_dir(os.path.dirname(d), fsync)
            self._make_dir(d, fsync)
        return d

    def _make_dir(self, d: str, fsync: bool) -> None:
        """Make ``d`` and make its name durable: once per process and directory (another
        process serving the same store may have just made it, not yet fsynced its parent)."""
        if d in self._dirs:
            return
        os.makedirs(d, exist_ok=True)
        if fsync:
            fsync_dir(os.path.dirname(d))
        self._dirs.add(d)

    def _file_path(self, backend: Backend, file: str) -> str:
        return os.path.join(backend.options["path"], "data", file[:2], file[2:4], file)

    # --- hooks ----------------------------------------------------------------------

    @hookimpl
    def obj_put(
        self,
        backend: Backend,
        account: str,
        container: str,
        name: str,
        data: Iterable[bytes],
        content_type: str,
        metadata: Mapping[str, str],
        expected_etag: str | None,
    ) -> ObjectInfo:
        check_name("object", name, MAX_NAME_BYTES)
        index = self._index(backend, account, container)
        assert index is not None
        ts = time.time_ns()
        h = _digest(account, container, name)
        file = f"{h}.{ts:016x}.{os.urandom(4).hex()}.data"
        directory = self._data_dir(backend, h)
        path = os.path.join(directory, file)
        md5 = hashlib.md5()
        size = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            # held until the index names the file (or it is removed): an unlocked data file
            # that no index row names is a partial upload whose writer is gone
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                with DirectWriter(fd) as out:
                    for chunk in data:
                        md5.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                    out.finish()
                etag = md5.hexdigest()
                if expected_etag and expected_etag.strip('"').lower() != etag:
                    raise Unprocessable(
                        f"the ETag sent ({expected_etag}) does not match the MD5 of the content ({etag})"
                    )
                if index.fsync:
                    os.fdatasync(fd)  # the data and the size that reads need; not the times
                    fsync_dir(directory)  # the new name too, before the index may point at it
            except BaseException:
                _unlink(path)
                raise
            info = ObjectInfo(name, size, etag, content_type, ts / 1e9, dict(metadata))
            meta = json.dumps(dict(metadata), separators=(",", ":"))
            write = index.upsert((name, file, size, etag, content_type, ts, meta))
            if write.error is not None:
                if write.result is None:  # not indexed: the file is nobody's
                    _unlink(path)
                raise write.error
            assert write.result is not None
            applied, replaced = write.result
            if not applied:  # a newer write already landed: it wins
                _unlink(path)
            elif replaced is not None:
                _unlink(self._file_path(backend, replaced))
        finally:
            os.close(fd)
        return info

    def _row(self, backend: Backend, account: str, container: str, name: str) -> tuple[Any, ...]:
        check_name("object", name, MAX_NAME_BYTES)
        index = self._index(backend, account, container, create=False)
        row = None
        if index is not None:
            row = (
                index.conn()
                .execute("SELECT file, size, etag, content_type, ts, meta FROM objects WHERE name = ?", (name,))
                .fetchone()
            )
        if row is None:
            raise NotFound(f"object {container}/{name} not found")
        return row

    @staticmethod
    def _info(name: str, row: Sequence[Any]) -> ObjectInfo:
        return info_of(name, row)

    @hookimpl
    def obj_head(self, backend: Backend, account: str, container: str, name: str) -> ObjectInfo:
        return self._info(name, self._row(backend, account, container, name))

    @hookimpl
    def obj_get(
        self, backend: Backend, account: str, container: str, name: str, byte_range: ByteRange | None
    ) -> tuple[ObjectInfo, Iterator[bytes]]:
        row = self._row(backend, account, container, name)
        info = self._info(name, row)
        path = self._file_path(backend, row[0])
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            self._quarantine(backend, account, container, name, row[0], "data file is missing")
            raise DriverError(f"object {container}/{name} is missing on disk; it was removed from the index") from None
        size = os.fstat(fd).st_size
        if size != info.size:
            os.close(fd)
            self._quarantine(backend, account, container, name, row[0], f"size {size} != {info.size}")
            raise DriverError(f"object {container}/{name} is corrupt (size); it was quarantined")
        if info.size <= VERIFY_WHOLE_BELOW:
            with os.fdopen(fd, "rb", buffering=0) as f:
                content = f.read()
            if hashlib.md5(content).hexdigest() != info.etag:
                self._quarantine(backend, account, container, name, row[0], "checksum mismatch")
                raise DriverError(f"object {container}/{name} is corrupt (checksum); it was quarantined")
            if byte_range is not None:
                content = content[byte_range.first : byte_range.last + 1]
            return info, iter((content,))
        if byte_range is not None:
            return info, _read_range(fd, byte_range.first, byte_range.last + 1)
        on_corrupt = lambda: self._quarantine(backend, account, container, name, row[0], "checksum mismatch")  # noqa: E731
        return info, _read_verified(fd, info.etag, on_corrupt, f"{container}/{name}")

    @hookimpl
    def obj_post(
        self, backend: Backend, account: str, container: str, name: str, metadata: Mapping[str, str]
    ) -> ObjectInfo:
        row = self._row(backend, account, container, name)
        index = self._index(backend, account, container)
        assert index is not None
        meta = dict(metadata)
        conn = index.conn()
        cur = conn.execute("UPDATE objects SET meta = ? WHERE name = ? AND file = ?", (json.dumps(meta), name, row[0]))
        if cur.rowcount == 0:  # replaced meanwhile: apply to the new version
            conn.execute("UPDATE objects SET meta = ? WHERE name = ?", (json.dumps(meta), name))
        index.commit_durably()
        return self._info(name, self._row(backend, account, container, name))

    @hookimpl
    def obj_delete(self, backend: Backend, account: str, container: str, name: str) -> bool:
        row = self._row(backend, account, container, name)
        index = self._index(backend, account, container)
        assert index is not None
        cur = index.conn().execute("DELETE FROM objects WHERE name = ? RETURNING file", (name,))
        gone = cur.fetchone()
        if gone is None:
            raise NotFound(f"object {container}/{name} not found")
        index.commit_durably()
        _unlink(self._file_path(backend, gone[0] or row[0]))
        return True

    @hookimpl
    def obj_list(
        self,
        backend: Backend,
        account: str,
        container: str,
        prefix: str | None,
        delimiter: str | None,
        marker: str | None,
        end_marker: str | None,
        limit: int,
        reverse: bool,
    ) -> Sequence[ObjectInfo | ObjectSubdir]:
        index = self._index(backend, account, container, create=False)
        if index is None or limit <= 0:
            return []
        return listing(index.conn(), prefix or "", delimiter or "", marker or "", end_marker or "", limit, reverse)

    @hookimpl
    def obj_stats(self, backend: Backend, account: str, container: str) -> Mapping[str, int]:
        index = self._index(backend, account, container, create=False)
        if index is None:
            return {"objects": 0, "bytes": 0}
        count, used = index.conn().execute("SELECT objects, bytes FROM stats").fetchone()
        return {"objects": count, "bytes": used}

    @hookimpl
    def obj_drop_container(self, backend: Backend, account: str, container: str) -> bool:
        index = self._index(backend, account, container, create=False)
        if index is None:
            return True
        if index.conn().execute("SELECT 1 FROM objects LIMIT 1").fetchone():
            raise Conflict(f"container {container} is not empty")
        with self._lock:
            self._indexes.pop((backend.options["path"], account, container), None)
        for suffix in ("-wal", "-shm", ""):
            _unlink(str(index.path) + suffix)
        return True

    # --- corruption and audit -----------------------------------------------------------

    def _quarantine(self, backend: Backend, account: str, container: str, name: str, file: str, why: str) -> None:
        """Move a bad file aside and drop its index row, so it is never served again."""
        qdir = self._root(backend) / "quarantine"
        qdir.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self._file_path(backend, file), qdir / file)
        except FileNotFoundError:
            pass
        (qdir / f"{file}.reason").write_text(
            json.dumps({"account": account, "container": container, "name": name, "why": why})
        )
        index = self._index(backend, account, container, create=False)
        if index is not None:
            index.conn().execute("DELETE FROM objects WHERE name = ? AND file = ?", (name, file))
            index.commit_durably()

    @hookimpl
    def obj_audit(self, backend: Backend) -> Mapping[str, Any]:
        from overcast_storage_fs.objects_audit import audit

        return audit(self, backend)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _read_range(fd: int, start: int, stop: int) -> Iterator[bytes]:
    try:
        pos = start
        while pos < stop:
            chunk = os.pread(fd, min(CHUNK, stop - pos), pos)
            if not chunk:
                raise DriverError("object data ended early")
            pos += len(chunk)
            yield chunk
    finally:
        os.close(fd)


def _read_verified(fd: int, etag: str, on_corrupt: Any, what: str) -> Iterator[bytes]:
    """Stream the whole file, holding back the last chunk until the md5 checks out, so a
    corrupt object never reaches the client complete."""
    md5 = hashlib.md5()
    try:
        pending = b""
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            md5.update(chunk)
            if pending:
                yield pending
            pending = chunk
        if md5.hexdigest() != etag:
            on_corrupt()
            raise DriverError(f"object {what} is corrupt (checksum); it was quarantined")
        if pending:
            yield pending
    finally:
        os.close(fd)
