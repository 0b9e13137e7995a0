"""Server groups with ``affinity`` / ``anti-affinity`` policies, fed to the scheduler."""

from __future__ import annotations

import builtins

from sqlalchemy import select

from overcast.context import RequestContext
from overcast.db.models.compute import InstanceRecord, ServerGroupMember, ServerGroupRecord
from overcast.errors import BadRequest, NotFound

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


class ServerGroupManager:
    def __init__(self, db, quotas) -> None:
        self.db = db
        self.quotas = quotas

    def create(self, ctx: RequestContext, body: dict) -> ServerGroupRecord:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BadRequest("Invalid input for field/attribute name.")
        policy = body.get("policy")
        if policy is None and isinstance(body.get("policies"), list) and len(body["policies"]) == 1:
            policy = body["policies"][0]
        if policy not in POLICIES:
            raise BadRequest(
                f"Invalid input for field/attribute policy. Value: {policy}. must be one of {', '.join(POLICIES)}"
            )
        rec = ServerGroupRecord(name=name, project_id=ctx.project_id or "", user_id=ctx.user_id, policy=policy)
        with self.db.session() as s:
            self.quotas.claim(s, rec.project_id, {"server_groups": 1})
            s.add(rec)
        return rec

    def get_record(self, session, ctx: RequestContext, group_id: str) -> ServerGroupRecord:
        rec = session.get(ServerGroupRecord, group_id)
        if rec is None or not ctx.can_see(rec.project_id):
            raise NotFound(f"Instance group {group_id} could not be found.")
        return rec

    def get(self, ctx: RequestContext, group_id: str) -> tuple[ServerGroupRecord, list[str]]:
        with self.db.session() as s:
            rec = self.get_record(s, ctx, group_id)
            return rec, self.members(s, rec.id)

    def members(self, session, group_id: str) -> list[str]:
        stmt = (
            select(ServerGroupMember.instance_uuid)
            .join(InstanceRecord, InstanceRecord.uuid == ServerGroupMember.instance_uuid)
            .where(ServerGroupMember.group_id == group_id, InstanceRecord.deleted.is_(False))
        )
        return list(session.scalars(stmt))

    def list(self, ctx: RequestContext, all_projects: bool = False) -> list[tuple[ServerGroupRecord, list[str]]]:
        with self.db.session() as s:
            stmt = ctx.filter(select(ServerGroupRecord), ServerGroupRecord.project_id, all_projects)
            return [(r, self.members(s, r.id)) for r in s.scalars(stmt.order_by(ServerGroupRecord.created_at))]

    def delete(self, ctx: RequestContext, group_id: str) -> None:
        with self.db.session() as s:
            rec = self.get_record(s, ctx, group_id)
            for m in s.scalars(select(ServerGroupMember).where(ServerGroupMember.group_id == rec.id)):
                s.delete(m)
            s.delete(rec)
            self.quotas.release(s, rec.project_id, {"server_groups": 1})

    def hosts_of(self, session, group_id: str, exclude_uuid: str | None = None) -> builtins.list[str]:
        """Hosts that the group's other live members run on (for the affinity filters)."""
        stmt = (
            select(InstanceRecord.host)
            .join(ServerGroupMember, ServerGroupMember.instance_uuid == InstanceRecord.uuid)
            .where(
                ServerGroupMember.group_id == group_id,
                InstanceRecord.deleted.is_(False),
                InstanceRecord.host.is_not(None),
            )
        )
        if exclude_uuid:
            stmt = stmt.where(InstanceRecord.uuid != exclude_uuid)
        return sorted({h for h in session.scalars(stmt) if h})
