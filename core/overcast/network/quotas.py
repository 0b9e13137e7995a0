"""Per-project limits on networks, subnets, ports, routers, floating IPs and security groups.

A check runs *after* the new row is flushed, in the same transaction: it locks the
project's quota rows (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions that
wrote are already serialised), counts, and raises ``OverQuota`` (409 ``OverQuota``, as
Neutron answers) so the transaction, and the new row with it, is rolled back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.db.models.network import (
    FloatingIpRecord,
    NetworkQuotaRecord,
    NetworkRecord,
    PortRecord,
    RouterRecord,
    SecurityGroupRecord,
    SecurityGroupRuleRecord,
    SubnetRecord,
)
from overcast.errors import BadRequest, Conflict

RESOURCES: dict[str, Any] = {
    "network": NetworkRecord,
    "subnet": SubnetRecord,
    "port": PortRecord,
    "router": RouterRecord,
    "floatingip": FloatingIpRecord,
    "security_group": SecurityGroupRecord,
    "security_group_rule": SecurityGroupRuleRecord,
}

LOCK_ROW = "_lock"  # one row per project that every check locks


class Quotas:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def defaults(self) -> dict[str, int]:
        section = self.runtime.config.networking
        return {name: getattr(section, f"quota_{name}") for name in RESOURCES}

    def limits(self, session: Session, project_id: str) -> dict[str, int]:
        limits = self.defaults()
        rows = session.scalars(select(NetworkQuotaRecord).where(NetworkQuotaRecord.project_id == project_id))
        for row in rows:
            if row.resource in limits:
                limits[row.resource] = row.limit
        return limits

    def usage(self, session: Session, project_id: str) -> dict[str, int]:
        return {
            name: session.scalar(select(func.count()).select_from(model).where(model.project_id == project_id)) or 0
            for name, model in RESOURCES.items()
        }

    def _ensure_lock_row(self, project_id: str) -> None:
        try:
            with self.runtime.db.session() as s:
                if s.get(NetworkQuotaRecord, (project_id, LOCK_ROW)) is None:
                    s.add(NetworkQuotaRecord(project_id=project_id, resource=LOCK_ROW, limit=0))
        except IntegrityError:
            pass  # a concurrent request made it

    def prepare(self, project_id: str) -> None:
        """Call before the transaction that creates resources (makes the lock row)."""
        self._ensure_lock_row(project_id)

    def check(self, session: Session, project_id: str, resource: str) -> None:
        """After flushing a new ``resource`` row: refuse if the project is now over its limit."""
        session.flush()
        session.execute(
            select(NetworkQuotaRecord).where(NetworkQuotaRecord.project_id == project_id).with_for_update()
        ).all()
        limit = self.limits(session, project_id)[resource]
        if limit < 0:
            return
        model = RESOURCES[resource]
        used = session.scalar(select(func.count()).select_from(model).where(model.project_id == project_id)) or 0
        if used > limit:
            raise Conflict(f"Quota exceeded for resources: ['{resource}'].", code="OverQuota")

    # --- the quotas API ----------------------------------------------------------------

    def show(self, project_id: str) -> dict[str, int]:
        with self.runtime.db.session() as s:
            return self.limits(s, project_id)

    def details(self, project_id: str) -> dict[str, dict[str, int]]:
        with self.runtime.db.session() as s:
            limits, used = self.limits(s, project_id), self.usage(s, project_id)
        return {name: {"limit": limits[name], "used": used[name], "reserved": 0} for name in RESOURCES}

    def update(self, project_id: str, values: dict[str, Any]) -> dict[str, int]:
        if not isinstance(values, dict):
            raise BadRequest("Invalid input: 'quota' must be an object.", code="InvalidInput")
        for name, value in values.items():
            if name not in RESOURCES:
                raise BadRequest(f"Unrecognized attribute(s) '{name}'", code="HTTPBadRequest")
            if isinstance(value, bool) or not isinstance(value, int) or value < -1:
                raise BadRequest(
                    f"Invalid input for {name}. Reason: '{value}' should be an integer >= -1.", code="InvalidInput"
                )
        with self.runtime.db.session() as s:
            for name, value in values.items():
                row = s.get(NetworkQuotaRecord, (project_id, name))
                if row is None:
                    s.add(NetworkQuotaRecord(project_id=project_id, resource=name, limit=value))
                else:
                    row.limit = value
            s.flush()
            return self.limits(s, project_id)

    def reset(self, project_id: str) -> None:
        with self.runtime.db.session() as s:
            s.execute(
                delete(NetworkQuotaRecord).where(
                    NetworkQuotaRecord.project_id == project_id, NetworkQuotaRecord.resource != LOCK_ROW
                )
            )

    def projects_with_quotas(self) -> list[str]:
        with self.runtime.db.session() as s:
            return sorted(
                set(s.scalars(select(NetworkQuotaRecord.project_id).where(NetworkQuotaRecord.resource != LOCK_ROW)))
            )
