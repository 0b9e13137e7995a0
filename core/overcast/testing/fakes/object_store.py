"""Objects in memory, with Swift's listing rules."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pickle
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from overcast.errors import BadRequest, Conflict, NotFound, Unprocessable
from overcast.hookspecs import hookimpl
from overcast.types import (
    Backend,
    ByteRange,
    ObjectInfo,
    ObjectSubdir,
)


class FakeObjectStore:
    """Objects in memory with Swift's listing semantics.

    ``shared``: a cloud of several processes (API workers) sees one set of objects: every
    operation runs under a file lock in the backend's state dir, reloads the objects when
    another process changed them and writes them back after a change."""

    def __init__(self, shared: bool = False) -> None:
        self.objects: dict[tuple[str, str, str], tuple[ObjectInfo, bytes]] = {}
        self.lock = threading.Lock()
        self.shared = shared
        self._loaded: tuple[int, int, int] | None = None  # the state file's (inode, size, mtime) in memory

    @contextlib.contextmanager
    def _synced(self, backend: Backend, write: bool = False) -> Iterator[None]:
        with self.lock:
            if not self.shared or not backend.state_dir:
                yield
                return
            path = Path(backend.state_dir) / "fake-objects.pickle"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path.with_suffix(".lock"), "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
                self._load(path)
                yield
                if write:
                    temp = path.with_name(f".{path.name}.{os.getpid()}")
                    temp.write_bytes(pickle.dumps(self.objects))
                    temp.replace(path)
                    self._loaded = _stamp(path)

    def _load(self, path: Path) -> None:
        stamp = _stamp(path)
        if stamp is not None and stamp != self._loaded:
            self.objects = pickle.loads(path.read_bytes())
            self._loaded = stamp

    def _get(self, account: str, container: str, name: str) -> tuple[ObjectInfo, bytes]:
        try:
            return self.objects[(account, container, name)]
        except KeyError:
            raise NotFound(f"object {container}/{name} not found") from None

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
        if "\x00" in name or len(name.encode("utf-8")) > 1024 or not name:
            raise BadRequest("object names are 1 to 1024 bytes of UTF-8 without NUL")
        md5 = hashlib.md5()
        chunks = []
        for chunk in data:
            md5.update(chunk)
            chunks.append(chunk)
        etag = md5.hexdigest()
        if expected_etag and expected_etag.strip('"').lower() != etag:
            raise Unprocessable(f"ETag {expected_etag} does not match the content's MD5 {etag}")
        content = b"".join(chunks)
        info = ObjectInfo(
            name=name,
            size=len(content),
            etag=etag,
            content_type=content_type,
            last_modified=time.time(),
            metadata=dict(metadata),
        )
        with self._synced(backend, write=True):
            self.objects[(account, container, name)] = (info, content)
        return info

    @hookimpl
    def obj_get(
        self, backend: Backend, account: str, container: str, name: str, byte_range: ByteRange | None
    ) -> tuple[ObjectInfo, Iterator[bytes]]:
        with self._synced(backend):
            info, content = self._get(account, container, name)
        if byte_range is not None:
            content = content[byte_range.first : byte_range.last + 1]
        return info, iter([content])

    @hookimpl
    def obj_head(self, backend: Backend, account: str, container: str, name: str) -> ObjectInfo:
        with self._synced(backend):
            return self._get(account, container, name)[0]

    @hookimpl
    def obj_post(
        self, backend: Backend, account: str, container: str, name: str, metadata: Mapping[str, str]
    ) -> ObjectInfo:
        with self._synced(backend, write=True):
            info, content = self._get(account, container, name)
            import dataclasses

            info = dataclasses.replace(info, metadata=dict(metadata))
            self.objects[(account, container, name)] = (info, content)
        return info

    @hookimpl
    def obj_delete(self, backend: Backend, account: str, container: str, name: str) -> bool:
        with self._synced(backend, write=True):
            if self.objects.pop((account, container, name), None) is None:
                raise NotFound(f"object {container}/{name} not found")
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
        with self._synced(backend):
            objects = self.objects
        names = sorted(n for (a, c, n) in objects if a == account and c == container)
        return swift_listing(
            names,
            lambda n: objects[(account, container, n)][0],
            prefix,
            delimiter,
            marker,
            end_marker,
            limit,
            reverse,
        )

    @hookimpl
    def obj_stats(self, backend: Backend, account: str, container: str) -> Mapping[str, int]:
        with self._synced(backend):
            sizes = [i.size for (a, c, _n), (i, _d) in self.objects.items() if a == account and c == container]
        return {"objects": len(sizes), "bytes": sum(sizes)}

    @hookimpl
    def obj_drop_container(self, backend: Backend, account: str, container: str) -> bool:
        with self._synced(backend):
            if any(a == account and c == container for (a, c, _n) in self.objects):
                raise Conflict(f"container {container} is not empty")
        return True


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def swift_listing(
    names: Sequence[str],
    info_of: Any,
    prefix: str | None,
    delimiter: str | None,
    marker: str | None,
    end_marker: str | None,
    limit: int,
    reverse: bool,
) -> list[ObjectInfo | ObjectSubdir]:
    """Swift's listing rules over sorted ``names``: prefix, delimiter roll-up into
    pseudo-folders, marker/end_marker (exclusive, in listing order), limit, reverse."""
    ordered = list(reversed(names)) if reverse else list(names)
    out: list[ObjectInfo | ObjectSubdir] = []
    seen_dirs: set[str] = set()
    for name in ordered:
        if prefix and not name.startswith(prefix):
            continue
        if marker and (name >= marker if reverse else name <= marker):
            continue
        if end_marker and (name <= end_marker if reverse else name >= end_marker):
            continue
        if delimiter:
            rest = name[len(prefix or "") :]
            cut = rest.find(delimiter)
            if cut >= 0:
                subdir = (prefix or "") + rest[: cut + len(delimiter)]
                if subdir not in seen_dirs and not (marker and not reverse and subdir <= marker):
                    seen_dirs.add(subdir)
                    out.append(ObjectSubdir(subdir=subdir))
                if len(out) >= limit:
                    break
                continue
        out.append(info_of(name))
        if len(out) >= limit:
            break
    return out
