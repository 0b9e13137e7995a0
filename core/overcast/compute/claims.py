"""Atomic capacity claims on the ``hosts`` table.

A claim is one conditional UPDATE: it adds the flavor to a host's ``*_used`` columns only if
the result stays within capacity x allocation ratio and the host is enabled. Two schedulers
racing for the last slot both issue the UPDATE; the database lets exactly one through
(SQLite serialises writers; PostgreSQL re-checks the WHERE clause on the updated row), so
concurrent creates never oversubscribe a host. The loser sees ``rowcount == 0`` and retries
elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text, update

from overcast.db.models.base import utcnow

from overcast.db.models.hosts import HostRecord
from overcast.types import Flavor


@dataclass(frozen=True)
class Ratios:
    cpu: float
    ram: float
    disk: float


@dataclass(frozen=True)
class Usage:
    vcpus: int
    memory_mb: int
    disk_gb: int

    @classmethod
    def of(cls, flavor: Flavor) -> Usage:
        return cls(
            flavor.vcpus, flavor.memory_mb, flavor.root_gb + flavor.ephemeral_gb + (flavor.swap_mb + 1023) // 1024
        )


_CLAIM = text(
    "UPDATE hosts SET vcpus_used = vcpus_used + :vcpus, memory_mb_used = memory_mb_used + :ram,"
    " local_gb_used = local_gb_used + :disk, updated_at = :now"
    " WHERE name = :host AND enabled = :enabled AND error IS NULL"
    " AND vcpus_used + :vcpus <= vcpus * :cpu_ratio"
    " AND memory_mb_used + :ram <= memory_mb * :ram_ratio"
    " AND local_gb_used + :disk <= local_gb * :disk_ratio"
)


def claim(conn, host: str, usage: Usage, ratios: Ratios) -> bool:
    """Add ``usage`` to ``host`` if it fits; True if claimed. ``conn`` is a Session or a
    Connection; committing is the caller's. (Plain SQL: this runs on every placement, and
    building the expression each time cost more than the UPDATE itself.)"""
    params = {
        "vcpus": usage.vcpus,
        "ram": usage.memory_mb,
        "disk": usage.disk_gb,
        "now": utcnow(),
        "host": host,
        "enabled": True,
        "cpu_ratio": ratios.cpu,
        "ram_ratio": ratios.ram,
        "disk_ratio": ratios.disk,
    }
    return conn.execute(_CLAIM, params).rowcount == 1


def release(session, host: str, usage: Usage) -> None:
    """Give ``usage`` back to ``host`` (never below zero)."""
    h = HostRecord.__table__.c
    from sqlalchemy import case

    def minus(col, amount):
        return case((col - amount < 0, 0), else_=col - amount)

    session.execute(
        update(HostRecord)
        .where(h.name == host)
        .values(
            vcpus_used=minus(h.vcpus_used, usage.vcpus),
            memory_mb_used=minus(h.memory_mb_used, usage.memory_mb),
            local_gb_used=minus(h.local_gb_used, usage.disk_gb),
        )
        .execution_options(synchronize_session=False)
    )
