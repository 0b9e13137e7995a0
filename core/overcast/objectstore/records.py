"""Account and container records in the main database, with a short-lived cache.

Every object request needs its container (policy, ACLs, quotas); reading it from the
database each time would dominate small-object latency, so records are kept for
``[objectstore] container_cache_ttl`` seconds and dropped at once when this process or one
sharing its data directory (``[objectstore] workers``, through
:class:`~overcast.objectstore.generation.SharedGeneration`) changes them; a server on another
host sees a change after at most the TTL, as Swift's proxies do.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.exc import IntegrityError

from overcast.db import Database
from overcast.db.models.objectstore import ObjectAccount, ObjectContainer
from overcast.errors import Conflict
from overcast.objectstore.generation import SharedGeneration
from overcast.sealing import Sealer, open_meta, seal_meta


@dataclass(frozen=True)
class ContainerRecord:
    project_id: str
    name: str
    policy: str
    meta: dict[str, str] = field(default_factory=dict)
    read_acl: str = ""
    write_acl: str = ""
    created_at: float = 0.0

    def quota(self, kind: str) -> int | None:
        value = self.meta.get(f"x-container-meta-quota-{kind}")
        return int(value) if value and value.isdigit() else None


def _record(row: ObjectContainer, sealer: Sealer | None) -> ContainerRecord:
    meta = dict(row.meta or {})
    return ContainerRecord(
        row.project_id,
        row.name,
        row.policy,
        open_meta(sealer, meta) if sealer is not None else meta,
        row.read_acl,
        row.write_acl,
        row.created_at.timestamp() if row.created_at else 0.0,
    )


class Records:
    def __init__(
        self, db: Database, ttl: float, generation: SharedGeneration | None = None, sealer: Sealer | None = None
    ) -> None:
        """``sealer``: TempURL keys are stored sealed with it (:mod:`overcast.sealing`)."""
        self.db = db
        self.sealer = sealer
        self.ttl = ttl
        # (project, container) -> (expires, record, generation read under); accounts under ""
        self._cache: dict[tuple[str, str], tuple[float, Any, int]] = {}
        self._lock = threading.Lock()
        self._generation = generation

    def _current(self) -> int:
        return self._generation.value() if self._generation is not None else 0

    def _cached(self, key: tuple[str, str]) -> tuple[bool, Any, int]:
        """(hit, value, the generation to store a fresh read under)."""
        generation = self._current()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic() and hit[2] == generation:
            return True, hit[1], generation
        return False, None, generation

    def _keep(self, key: tuple[str, str], value: Any, generation: int) -> None:
        if self.ttl > 0:
            with self._lock:
                if len(self._cache) > 10000:
                    self._cache.clear()
                self._cache[key] = (time.monotonic() + self.ttl, value, generation)

    # --- containers ---------------------------------------------------------------------

    def container(self, project_id: str, name: str) -> ContainerRecord | None:
        key = (project_id, name)
        hit, record, generation = self._cached(key)
        if hit:
            return record
        with self.db.session() as s:
            row = s.scalar(
                select(ObjectContainer).where(ObjectContainer.project_id == project_id, ObjectContainer.name == name)
            )
            record = _record(row, self.sealer) if row is not None else None
        self._keep(key, record, generation)
        return record

    def _forget(self, project_id: str, name: str) -> None:
        with self._lock:
            self._cache.pop((project_id, name), None)
        if self._generation is not None:
            self._generation.bump()

    def create_container(self, record: ContainerRecord) -> bool:
        """Insert; False if it already existed (the caller then updates it)."""
        self._forget(record.project_id, record.name)
        try:
            with self.db.session() as s:
                s.add(
                    ObjectContainer(
                        project_id=record.project_id,
                        name=record.name,
                        policy=record.policy,
                        meta=self._sealed(record.meta),
                        read_acl=record.read_acl,
                        write_acl=record.write_acl,
                    )
                )
        except IntegrityError:
            return False
        finally:
            self._forget(record.project_id, record.name)
        return True

    def update_container(
        self,
        project_id: str,
        name: str,
        meta: dict[str, str] | None = None,
        read_acl: str | None = None,
        write_acl: str | None = None,
    ) -> ContainerRecord | None:
        try:
            with self.db.session() as s:
                row = s.scalar(
                    select(ObjectContainer).where(
                        ObjectContainer.project_id == project_id, ObjectContainer.name == name
                    )
                )
                if row is None:
                    return None
                if meta is not None:
                    row.meta = self._sealed(meta)
                if read_acl is not None:
                    row.read_acl = read_acl
                if write_acl is not None:
                    row.write_acl = write_acl
                s.flush()
                return _record(row, self.sealer)
        finally:
            self._forget(project_id, name)

    def delete_container(self, project_id: str, name: str) -> bool:
        try:
            with self.db.session() as s:
                deleted = s.execute(
                    delete(ObjectContainer).where(
                        ObjectContainer.project_id == project_id, ObjectContainer.name == name
                    )
                )
                return cast("CursorResult[Any]", deleted).rowcount > 0
        finally:
            self._forget(project_id, name)

    def container_names(self, project_id: str, prefix: str = "", after: str = "") -> list[ContainerRecord]:
        with self.db.session() as s:
            stmt = select(ObjectContainer).where(ObjectContainer.project_id == project_id)
            if prefix:
                stmt = stmt.where(ObjectContainer.name >= prefix)
            stmt = stmt.order_by(ObjectContainer.name)
            return [_record(r, self.sealer) for r in s.scalars(stmt) if r.name.startswith(prefix)]

    def container_count(self, project_id: str) -> int:
        with self.db.session() as s:
            return (
                s.scalar(
                    select(func.count()).select_from(ObjectContainer).where(ObjectContainer.project_id == project_id)
                )
                or 0
            )

    # --- accounts -----------------------------------------------------------------------

    def account_meta(self, project_id: str) -> dict[str, str]:
        key = (project_id, "")  # "" is never a container name
        hit, meta, generation = self._cached(key)
        if hit:
            return meta
        with self.db.session() as s:
            row = s.get(ObjectAccount, project_id)
            meta = dict(row.meta or {}) if row is not None else {}
        if self.sealer is not None:
            meta = open_meta(self.sealer, meta)
        self._keep(key, meta, generation)
        return meta

    def _sealed(self, meta: dict[str, str]) -> dict[str, str]:
        return seal_meta(self.sealer, meta) if self.sealer is not None else meta

    def set_account_meta(self, project_id: str, meta: dict[str, str]) -> None:
        meta = self._sealed(meta)
        self._forget(project_id, "")
        for _attempt in range(3):
            try:
                with self.db.session() as s:
                    row = s.get(ObjectAccount, project_id)
                    if row is None:
                        s.add(ObjectAccount(project_id=project_id, meta=meta))
                    else:
                        row.meta = meta
                self._forget(project_id, "")
                return
            except IntegrityError:  # created concurrently: update it instead
                continue
        raise Conflict(f"account AUTH_{project_id} is being changed concurrently; retry")


def merge_meta(current: dict[str, Any], updates: dict[str, str], prefixes: tuple[str, ...]) -> dict[str, str]:
    """Swift POST semantics for one metadata family: keys in ``updates`` set (an empty value
    removes), ``x-remove-<family>-<key>`` removes; other keys are kept."""
    merged = dict(current)
    for key, value in updates.items():
        if key.startswith("x-remove-"):
            target = "x-" + key[len("x-remove-") :]
            if target.startswith(prefixes):
                merged.pop(target, None)
            continue
        if not key.startswith(prefixes):
            continue
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
