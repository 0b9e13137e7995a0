"""The scheduler's view of every host, read from the ``hosts`` table and kept briefly in
memory so that a placement over 10,000 hosts does not re-read 10,000 rows.

The cache is only a hint: the claim in :mod:`overcast.compute.claims` is the authority, and
a failed claim refreshes the cache. Entries are kept sorted by free RAM, so the RAM weigher
can stop at the first host that passes the filters instead of weighing them all.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Text, or_, select
from sqlalchemy import cast as sa_cast

from overcast.compute.claims import Ratios, Usage
from overcast.db.models.base import utcnow
from overcast.db.models.hosts import HostRecord
from overcast.db.values import load
from overcast.types import HostResources, HostState, HvCapabilities


@dataclass
class HostEntry:
    """One host's scheduling facts. ``static_key`` groups hosts that static filters treat alike."""

    name: str
    driver: str
    availability_zone: str
    enabled: bool
    up: bool
    capabilities: HvCapabilities
    vcpus: int
    memory_mb: int
    local_gb: int
    vcpus_used: int
    memory_mb_used: int
    local_gb_used: int
    running_vms: int
    static_key: tuple = field(default=())
    error: str | None = None
    updated_at: datetime | None = None  # of its row when read: a row read again unchanged is skipped

    def free_vcpus(self, r: Ratios) -> float:
        return self.vcpus * r.cpu - self.vcpus_used

    def free_ram(self, r: Ratios) -> float:
        return self.memory_mb * r.ram - self.memory_mb_used

    def free_disk(self, r: Ratios) -> float:
        return self.local_gb * r.disk - self.local_gb_used

    def to_host_state(self) -> HostState:
        return HostState(
            name=self.name,
            driver=self.driver,
            availability_zone=self.availability_zone,
            capabilities=self.capabilities,
            resources=HostResources(
                vcpus=self.vcpus,
                memory_mb=self.memory_mb,
                local_gb=self.local_gb,
                vcpus_used=self.vcpus_used,
                memory_mb_used=self.memory_mb_used,
                local_gb_used=self.local_gb_used,
                running_vms=self.running_vms,
                hypervisor_type=self.capabilities.hypervisor_type,
            ),
            enabled=self.enabled,
            up=self.up,
            instance_count=self.running_vms,
        )


_EMPTY_CAPS = HvCapabilities(hypervisor_type="", image_types=frozenset())


def _capabilities(data: dict | None) -> HvCapabilities:
    if not data:
        return _EMPTY_CAPS
    try:
        return load(HvCapabilities, data)
    except ValueError:  # not capabilities (pydantic's ValidationError)
        return _EMPTY_CAPS


def _capabilities_of_text(text: str | None) -> HvCapabilities:
    """:func:`_capabilities` of a ``capabilities`` column read as its JSON text."""
    try:
        return _capabilities(json.loads(text) if text else None)
    except ValueError:  # not JSON
        return _EMPTY_CAPS


def reported_capabilities(session, host: str | None) -> HvCapabilities | None:
    """What ``host`` last reported it can do, or None if it never reported (or is unknown)."""
    data = session.scalars(select(HostRecord.capabilities).where(HostRecord.name == host)).first() if host else None
    return _capabilities(data) if data else None


class HostStateCache:
    """Host entries refreshed from the database at most every ``ttl`` seconds."""

    FULL_RELOAD = 60.0
    CLOCK_MARGIN = timedelta(seconds=2)

    def __init__(self, db, ratios: Ratios, down_after: float, ttl: float = 1.0) -> None:
        self.db = db
        self.ratios = ratios
        self.down_after = timedelta(seconds=down_after)
        self.ttl = ttl
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._entries: dict[str, HostEntry] = {}
        self._by_ram: list[tuple[float, str]] = []  # (free RAM, name), ascending
        self._caps_memo: dict[str, HvCapabilities] = {}
        self._full_at = 0.0
        self._max_updated: datetime | None = None
        self._stale: set[str] = set()  # hosts silent for longer than down_after at the last refresh

    _COLUMNS = (
        "name",
        "driver",
        "availability_zone",
        "enabled",
        "error",
        "capabilities",
        "vcpus",
        "memory_mb",
        "local_gb",
        "vcpus_used",
        "memory_mb_used",
        "local_gb_used",
        "running_vms",
        "updated_at",
    )

    def _load(self) -> None:
        """Full load every ``FULL_RELOAD`` seconds; otherwise only rows whose scheduling facts
        changed since the last load (claims, and heartbeats that report new facts, bump
        ``updated_at``; a heartbeat that only renews ``last_heartbeat`` does not), so a refresh
        at 10,000 hosts reads what changed, not everything. A row read again unchanged (the
        clock margin re-reads the last seconds' rows on every refresh) is skipped by its
        ``updated_at``; capabilities come as their JSON text, decoded once per distinct text (a
        thousand hosts share a few). Liveness is read apart on every refresh: the names of the
        hosts whose last heartbeat is older than ``down_after`` (a few, not every host)."""
        h = HostRecord.__table__.c
        full = not self._entries or time.monotonic() - self._full_at > self.FULL_RELOAD
        columns = [sa_cast(h.capabilities, Text).label(c) if c == "capabilities" else h[c] for c in self._COLUMNS]
        stmt = select(*columns)
        if not full:
            # a margin for other processes' clocks; the claim in the database stays the authority
            stmt = stmt.where(h.updated_at >= cast(datetime, self._max_updated) - self.CLOCK_MARGIN)
        cutoff = utcnow() - self.down_after
        silent = select(h.name).where(or_(h.last_heartbeat.is_(None), h.last_heartbeat < cutoff))

        def read(s: Any) -> tuple[list[Any], set[str]]:
            return list(s.execute(stmt).all()), set(s.scalars(silent).all())

        rows, stale = self.db.read(read)  # retried if the connection was lost
        entries = {} if full else self._entries
        changed = []  # (old free RAM, name) of the entries replaced
        fresh = []  # names of the entries (re)made
        for r in rows:
            old = entries.get(r.name)
            if old is not None:
                if old.updated_at == r.updated_at:
                    continue  # read again within the clock margin: nothing new
                changed.append((old.free_ram(self.ratios), r.name))
            caps = self._caps_memo.get(r.capabilities or "")
            if caps is None:
                caps = self._caps_memo[r.capabilities or ""] = _capabilities_of_text(r.capabilities)
            entry = HostEntry(
                r.name,
                r.driver,
                r.availability_zone,
                bool(r.enabled),
                False,
                caps,
                r.vcpus,
                r.memory_mb,
                r.local_gb,
                r.vcpus_used,
                r.memory_mb_used,
                r.local_gb_used,
                r.running_vms,
            )
            entry.error = r.error
            entry.updated_at = r.updated_at
            entries[r.name] = entry
            fresh.append(r.name)
            if self._max_updated is None or r.updated_at > self._max_updated:
                self._max_updated = r.updated_at
        # "up" ages with the clock even when no row changes: the entries made now, and those
        # that are silent now or were at the last refresh, are (re)judged
        judged = entries.keys() if full else {*fresh, *stale, *self._stale}
        for name in judged:
            judging = entries.get(name)
            if judging is None:
                continue  # a host row made since the last full load: read at the next
            up = judging.error is None and name not in stale
            if up != judging.up or not judging.static_key:
                judging.up = up
                judging.static_key = (
                    judging.driver,
                    judging.availability_zone,
                    judging.enabled,
                    up,
                    id(judging.capabilities),
                )
        self._stale = stale
        if full or len(fresh) > len(entries) // 8:
            self._by_ram = sorted((e.free_ram(self.ratios), e.name) for e in entries.values())
        else:
            for item in changed:
                i = bisect.bisect_left(self._by_ram, item)
                if i < len(self._by_ram) and self._by_ram[i] == item:
                    del self._by_ram[i]
            for name in fresh:
                bisect.insort(self._by_ram, (entries[name].free_ram(self.ratios), name))
        self._entries = entries
        if full:
            self._full_at = time.monotonic()
        self._loaded_at = time.monotonic()

    def view(self) -> tuple[dict[str, HostEntry], list[tuple[float, str]]]:
        """Current entries and the free-RAM index (refreshing if stale). Callers must hold
        :attr:`lock` while they read, so claims applied by others do not interleave."""
        if time.monotonic() - self._loaded_at > self.ttl:
            self._load()
        return self._entries, self._by_ram

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    def invalidate(self, full: bool = False) -> None:
        self._loaded_at = 0.0
        if full:
            self._full_at = 0.0

    def apply(self, name: str, usage: Usage, sign: int = 1) -> None:
        """Record a claim (``sign=1``) or release (``-1``) made in the database. Hold :attr:`lock`."""
        entry = self._entries.get(name)
        if entry is None:
            return
        old = (entry.free_ram(self.ratios), name)
        i = bisect.bisect_left(self._by_ram, old)
        if i < len(self._by_ram) and self._by_ram[i] == old:
            del self._by_ram[i]
        entry.vcpus_used += sign * usage.vcpus
        entry.memory_mb_used += sign * usage.memory_mb
        entry.local_gb_used += sign * usage.disk_gb
        bisect.insort(self._by_ram, (entry.free_ram(self.ratios), name))

    def mark_full(self, name: str) -> None:
        """A claim on ``name`` failed: our numbers were stale; reload before trusting it."""
        self.invalidate()
