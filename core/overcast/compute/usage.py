"""Usage per project over a period (Nova's ``os-simple-tenant-usage``; issue 18), from the
instance records, which keep ``launched_at`` and ``terminated_at`` after a delete (soft
delete), the way Nova computes it: each server counts the hours it ran inside the period,
times its flavor's vCPUs, RAM and disk."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from overcast.compute.records import flavor_from
from overcast.db.models.base import utcnow
from overcast.db.models.compute import InstanceRecord
from overcast.errors import BadRequest

FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")


def parse_time(value: str | None) -> datetime:
    """Nova's accepted forms; nothing given is now."""
    if not value:
        return utcnow()
    for fmt in FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise BadRequest("Invalid input received: Datetime is in invalid format")


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def _hours(rec: InstanceRecord, start: datetime, stop: datetime) -> float:
    if rec.launched_at is None or rec.launched_at > stop:
        return 0.0
    if rec.terminated_at is not None and rec.terminated_at < start:
        return 0.0
    begin = max(rec.launched_at, start)
    end = min(rec.terminated_at, stop) if rec.terminated_at is not None else stop
    return max((end - begin).total_seconds(), 0.0) / 3600.0


def usage(db: Any, start: datetime, stop: datetime, project_id: str | None, detailed: bool) -> list[dict[str, Any]]:
    """One entry per project that had servers running in ``[start, stop]`` (only
    ``project_id``'s if given), with ``server_usages`` when ``detailed``."""
    return usage_page(db, start, stop, project_id, detailed)[0]


def usage_page(
    db: Any,
    start: datetime,
    stop: datetime,
    project_id: str | None,
    detailed: bool,
    limit: int | None = None,
    marker: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """:func:`usage` over one page of servers (Nova's 2.40 paging): those after the server
    ``marker``, at most ``limit``; with the last server's id when the page is full (where the
    next page starts)."""
    if not start < stop:
        raise BadRequest("Invalid start time. The start time cannot occur after the end time.")
    stmt = select(InstanceRecord).where(
        InstanceRecord.launched_at.is_not(None),
        InstanceRecord.launched_at < stop,
        or_(InstanceRecord.terminated_at.is_(None), InstanceRecord.terminated_at > start),
    )
    if project_id is not None:
        stmt = stmt.where(InstanceRecord.project_id == project_id)
    now = utcnow()
    out: dict[str, dict[str, Any]] = {}
    with db.session() as s:
        recs = list(s.scalars(stmt.order_by(InstanceRecord.launched_at, InstanceRecord.uuid)))
        if marker is not None:
            ids = [r.uuid for r in recs]
            if marker not in ids:
                raise BadRequest(f"marker [{marker}] not found")
            recs = recs[ids.index(marker) + 1 :]
        full = limit is not None and len(recs) >= limit
        if limit is not None:
            recs = recs[:limit]
        for rec in recs:
            hours = _hours(rec, start, stop)
            flavor = flavor_from(rec.flavor)
            local_gb = flavor.root_gb + flavor.ephemeral_gb
            ended = rec.terminated_at
            server = {
                "instance_id": rec.uuid,
                "name": rec.name,
                "hours": hours,
                "memory_mb": flavor.memory_mb,
                "local_gb": local_gb,
                "vcpus": flavor.vcpus,
                "tenant_id": rec.project_id,
                "flavor": flavor.name,
                "started_at": _iso(rec.launched_at),
                "ended_at": _iso(ended),
                "state": "terminated" if ended is not None or rec.deleted else rec.vm_state,
                "uptime": int(((ended or now) - rec.launched_at).total_seconds()) if rec.launched_at else 0,
            }
            entry = out.setdefault(
                rec.project_id,
                {
                    "tenant_id": rec.project_id,
                    "total_local_gb_usage": 0.0,
                    "total_vcpus_usage": 0.0,
                    "total_memory_mb_usage": 0.0,
                    "total_hours": 0.0,
                    "start": _iso(start),
                    "stop": _iso(stop),
                    "server_usages": [],
                },
            )
            entry["total_local_gb_usage"] += local_gb * hours
            entry["total_vcpus_usage"] += flavor.vcpus * hours
            entry["total_memory_mb_usage"] += flavor.memory_mb * hours
            entry["total_hours"] += hours
            entry["server_usages"].append(server)
    if not detailed:
        for entry in out.values():
            del entry["server_usages"]
    return list(out.values()), (recs[-1].uuid if full and recs else None)
