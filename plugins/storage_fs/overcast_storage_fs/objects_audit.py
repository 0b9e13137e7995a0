"""``obj_audit`` for the ``fs`` object store: re-check every object against its index row.

For each container index: every row's data file must exist, have the recorded size and
hash to the recorded md5; a bad one is quarantined (moved aside, row dropped) and reported.
Data files that no row names are orphans of interrupted writes (or of a crash between a
commit and an unlink) and are removed once older than a grace period, so a PUT in flight
is never disturbed.

:func:`remove_partial_uploads` needs no grace period: a writer holds an ``flock`` on its data
file until the index names it, so a file no row names and no one holds is a partial upload
whose writer is gone (killed mid-transfer). It runs when a process first uses a store (the
start-up of ``overcast up``) and in every audit.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from overcast.types import Backend

from overcast_storage_fs.objects import CHUNK, ORPHAN_GRACE, FsObjectStore, _unlink


def _md5_of(path: str) -> str:
    md5 = hashlib.md5()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(CHUNK):
            md5.update(chunk)
    return md5.hexdigest()


log = logging.getLogger(__name__)

#: a data file younger than this may be one whose writer has not taken its lock yet
PARTIAL_MIN_AGE = 5.0


def referenced_files(root: Path) -> set[str]:
    """Every data file some container index names (read-only connections of their own)."""
    files: set[str] = set()
    for db in (root / "index").glob("*/*.db"):
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
            try:
                files.update(row[0] for row in conn.execute("SELECT file FROM objects"))
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            continue
    return files


def _unnamed(root: Path, named: set[str]) -> Iterator[str]:
    """The paths of the store's data files that ``named`` does not hold."""
    for dirpath, _dirs, files in os.walk(root / "data"):
        for file in files:
            if file not in named:
                yield os.path.join(dirpath, file)


def remove_partial_uploads(root: Path, min_age: float = PARTIAL_MIN_AGE) -> int:
    """Remove the data files of uploads that never finished: named by no index row and held
    by no writer. Returns how many were removed."""
    named = referenced_files(root)
    held: list[tuple[str, int]] = []
    now = time.time()
    try:
        for path in _unnamed(root, named):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                if now - os.fstat(fd).st_mtime < min_age:
                    raise BlockingIOError
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a writer holds it (an upload in flight), or it is too new
                os.close(fd)
                continue
            held.append((path, fd))
        if not held:
            return 0
        named = referenced_files(root)  # again: a commit may have landed while we looked
        removed = 0
        for path, _fd in held:
            if os.path.basename(path) not in named:
                _unlink(path)
                removed += 1
        if removed:
            log.warning("removed partial uploads", extra={"store": str(root), "files": removed})
        return removed
    finally:
        for _path, fd in held:
            os.close(fd)


def _containers(root: Path) -> list[tuple[str, str]]:
    found = []
    for db in sorted((root / "index").glob("*/*.db")):
        try:
            conn = sqlite3.connect(db, timeout=30)
            try:
                row = conn.execute("SELECT account, container FROM identity").fetchone()
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            row = None
        if row is not None:
            found.append((row[0], row[1]))
    return found


def audit(store: FsObjectStore, backend: Backend) -> dict[str, Any]:
    root = Path(backend.options["path"])
    counts: dict[str, Any] = {
        "containers": 0,
        "objects": 0,
        "ok": 0,
        "corrupt": 0,
        "missing": 0,
        "orphans_removed": 0,
        "orphans_recent": 0,
        "bytes_checked": 0,
        "problems": [],
    }
    referenced: set[str] = set()
    for account, container in _containers(root):
        counts["containers"] += 1
        index = store._index(backend, account, container, create=False)
        if index is None:
            continue
        rows = index.conn().execute("SELECT name, file, size, etag FROM objects").fetchall()
        for name, file, size, etag in rows:
            counts["objects"] += 1
            path = store._file_path(backend, file)
            where = f"{account}/{container}/{name}"
            try:
                actual_size = os.stat(path).st_size
            except FileNotFoundError:
                counts["missing"] += 1
                counts["problems"].append(f"{where}: data file missing; dropped from the listing")
                store._quarantine(backend, account, container, name, file, "data file is missing")
                continue
            problem = None
            if actual_size != size:
                problem = f"size {actual_size} != recorded {size}"
            elif _md5_of(path) != etag:
                problem = "checksum mismatch"
            if problem:
                counts["corrupt"] += 1
                counts["problems"].append(f"{where}: {problem}; quarantined")
                store._quarantine(backend, account, container, name, file, problem)
                continue
            counts["ok"] += 1
            counts["bytes_checked"] += size
            referenced.add(file)
        conn = index.conn()
        conn.execute("BEGIN IMMEDIATE")
        actual = conn.execute("SELECT count(*), coalesce(sum(size), 0) FROM objects").fetchone()
        kept = conn.execute("SELECT objects, bytes FROM stats").fetchone()
        if tuple(actual) != tuple(kept or ()):
            conn.execute("INSERT OR REPLACE INTO stats VALUES (0, ?, ?)", actual)
            counts["problems"].append(f"{account}/{container}: usage was {kept}, recounted {tuple(actual)}")
        conn.execute("COMMIT")
    counts["orphans_removed"] += remove_partial_uploads(root)  # no writer holds them: no grace needed
    now = time.time()
    for path in _unnamed(root, referenced):
        try:
            age = now - os.stat(path).st_mtime
        except FileNotFoundError:
            continue
        if age < ORPHAN_GRACE:
            counts["orphans_recent"] += 1
        else:
            _unlink(path)
            counts["orphans_removed"] += 1
    return counts
