"""Per-project limits on load balancers, listeners, pools, members, health monitors and L7
objects (Octavia's quota API). A check runs after the new row is flushed, in the same
transaction, so an over-quota create rolls back with its row (403, Octavia's text)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from overcast.db.models.loadbalancer import LbQuotaRecord
from overcast.errors import BadRequest
from overcast.loadbalancer.constants import QUOTA_ALIASES, QUOTA_RESOURCES
from overcast.loadbalancer.errors import invalid, over_quota
from overcast.loadbalancer.store import MODELS

RESOURCE_KINDS = {
    "load_balancer": "loadbalancer",
    "listener": "listener",
    "pool": "pool",
    "health_monitor": "healthmonitor",
    "member": "member",
    "l7policy": "l7policy",
    "l7rule": "l7rule",
}


class Quotas:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def defaults(self) -> dict[str, int]:
        section = self.runtime.config.loadbalancing
        return {name: getattr(section, f"quota_{name}") for name in QUOTA_RESOURCES}

    def limits(self, session: Session, project_id: str) -> dict[str, int]:
        limits = self.defaults()
        for row in session.scalars(select(LbQuotaRecord).where(LbQuotaRecord.project_id == project_id)):
            limits[row.resource] = row.limit
        return limits

    def check(self, session: Session, project_id: str, kind: str) -> None:
        """After flushing a new row of ``kind``: refuse if the project is now over its limit."""
        resource = next(r for r, k in RESOURCE_KINDS.items() if k == kind)
        limit = self.limits(session, project_id)[resource]
        if limit < 0:
            return
        session.flush()
        model = MODELS[kind]
        used = session.scalar(select(func.count()).select_from(model).where(model.project_id == project_id)) or 0
        if used > limit:
            raise over_quota(resource)

    @staticmethod
    def view(limits: dict[str, int]) -> dict[str, int]:
        """Octavia's quota body, with the deprecated aliases it still answers."""
        out = dict(limits)
        for alias, name in QUOTA_ALIASES.items():
            out[alias] = limits[name]
        return out

    def show(self, project_id: str) -> dict[str, int]:
        with self.runtime.db.session() as s:
            return self.view(self.limits(s, project_id))

    def list(self, project_ids: list[str] | None = None) -> list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            stmt = select(LbQuotaRecord.project_id).distinct()
            projects = sorted(set(s.scalars(stmt)))
            if project_ids is not None:
                projects = [p for p in projects if p in project_ids]
            return [{**self.view(self.limits(s, p)), "project_id": p} for p in projects]

    def update(self, project_id: str, values: Any) -> dict[str, int]:
        if not isinstance(values, dict):
            raise invalid("quota", values, "Value should be an object")
        wanted: dict[str, int] = {}
        for name, value in values.items():
            resource = QUOTA_ALIASES.get(name, name)
            if resource not in QUOTA_RESOURCES:
                raise invalid("quota", values, f"Unknown attribute for argument quota: {name}")
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < -1 or value > 2**31 - 1:
                raise invalid(name, value, "Value should be an integer between -1 and 2147483647")
            if resource in wanted and wanted[resource] != value:
                raise BadRequest(f"Conflicting values for {resource} and its alias.", code="InvalidInput")
            wanted[resource] = value
        with self.runtime.db.session() as s:
            for resource, value in wanted.items():
                row = s.get(LbQuotaRecord, (project_id, resource))
                if row is None:
                    s.add(LbQuotaRecord(project_id=project_id, resource=resource, limit=value))
                else:
                    row.limit = value
            s.flush()
            return self.view(self.limits(s, project_id))

    def reset(self, project_id: str) -> None:
        with self.runtime.db.session() as s:
            s.execute(delete(LbQuotaRecord).where(LbQuotaRecord.project_id == project_id))
