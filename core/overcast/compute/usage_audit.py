"""Nova's instance usage audit log (``os-instance_usage_audit_log``): per audit period
(Nova's default ``instance_usage_audit_period``, the calendar month) the state of each
compute host's usage audit task.

No usage audit task runs in this cloud (as in Nova with its default
``instance_usage_audit = False``): the task log is empty, so every compute service's host,
disabled ones included, is reported as not run for the period, as Nova reports it then."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from overcast.db.models.base import utcnow
from overcast.db.models.hosts import ServiceRecord
from overcast.errors import BadRequest


def parse_before(value: str) -> datetime:
    """The ``before`` timestamp of ``GET /os-instance_usage_audit_log/{before}``."""
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f" if "." in value else "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise BadRequest(f"Invalid timestamp for date {value}") from None


def _month_before(day: datetime) -> datetime:
    return day.replace(year=day.year - 1, month=12) if day.month == 1 else day.replace(month=day.month - 1)


def last_completed_period(before: datetime | None = None) -> tuple[datetime, datetime]:
    """The last whole month that ended at or before ``before`` (now if not given)."""
    now = before or utcnow()
    end = datetime(now.year, now.month, 1)
    if end >= now:
        end = _month_before(end)
    return _month_before(end), end


def audit_log(runtime: Any, before: datetime | None = None) -> dict:
    """The audit log of the last period completed before ``before``: with no audit task
    records, no host is done or running and every compute host is not run."""
    begin, end = last_completed_period(before)
    with runtime.db.session() as s:
        hosts = sorted(set(s.scalars(select(ServiceRecord.host).where(ServiceRecord.topic == "compute"))))
    return {
        "period_beginning": str(begin),
        "period_ending": str(end),
        "num_hosts": len(hosts),
        "num_hosts_done": 0,
        "num_hosts_running": 0,
        "num_hosts_not_run": len(hosts),
        "hosts_not_run": hosts,
        "total_instances": 0,
        "total_errors": 0,
        "overall_status": f"{'ALL' if not hosts else f'0 of {len(hosts)}'} hosts done. 0 errors.",
        "log": {},
    }
