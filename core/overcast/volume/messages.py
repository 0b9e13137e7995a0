"""User messages (Cinder 3.3+): what went wrong with a request that failed after it was
accepted, for the project that made it. Each message has Cinder's ``event_id``
(``VOLUME_<resource>_<action>_<detail>``) and text (``<action>:<detail>``) and expires after
``TTL`` (Cinder's ``message_ttl``: 30 days)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.base import utcnow
from overcast.db.models.volume import VolumeMessage
from overcast.errors import NotFound

TTL = timedelta(days=30)

#: Cinder's action and detail codes used here, with their texts.
ACTIONS = {"001": "schedule allocate volume"}
DETAILS = {"003": "Could not find any available weighted backend."}


class Messages:
    def record(
        self,
        session: Session,
        ctx: RequestContext,
        project_id: str,
        resource_type: str,
        resource_uuid: str | None,
        action: str,
        detail: str,
    ) -> VolumeMessage:
        now = utcnow()
        row = VolumeMessage(
            project_id=project_id,
            request_id=ctx.request_id or "",
            resource_type=resource_type,
            resource_uuid=resource_uuid,
            event_id=f"VOLUME_{resource_type}_{action}_{detail}",
            message_level="ERROR",
            user_message=f"{ACTIONS[action]}:{DETAILS[detail]}",
            created_at=now,
            expires_at=now + TTL,
        )
        session.add(row)
        return row

    def all(self, session: Session, ctx: RequestContext) -> list[VolumeMessage]:
        """The caller's project's messages (an admin's: every project's), newest first; expired ones go."""
        session.execute(delete(VolumeMessage).where(VolumeMessage.expires_at < utcnow()))
        stmt = select(VolumeMessage).order_by(VolumeMessage.created_at.desc(), VolumeMessage.id)
        if not ctx.is_admin:
            stmt = stmt.where(VolumeMessage.project_id == ctx.project_id)
        return list(session.execute(stmt).scalars())

    def get(self, session: Session, ctx: RequestContext, message_id: str) -> VolumeMessage:
        row = session.get(VolumeMessage, message_id) if len(message_id) <= 36 else None
        if row is None or not ctx.can_see(row.project_id) or row.expires_at < utcnow():
            raise NotFound(f"Message {message_id} could not be found.", code="MessageNotFound")
        return row

    def delete(self, session: Session, ctx: RequestContext, message_id: str) -> None:
        session.delete(self.get(session, ctx, message_id))
