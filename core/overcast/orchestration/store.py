"""Stack, resource and event rows: every state change the engine makes is written here at
once, so a stack's state survives the process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from overcast.db import Database
from overcast.db.models.base import utcnow
from overcast.db.models.orchestration import Stack, StackEvent, StackResource

STACK_TYPE = "OS::Heat::Stack"


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- stacks -------------------------------------------------------------------------------

    def stack(self, stack_id: str) -> Stack | None:
        return self.db.read(lambda s: s.get(Stack, stack_id))

    def set_stack(self, stack_id: str, **values: Any) -> Stack:
        with self.db.session() as s:
            row = s.get(Stack, stack_id)
            assert row is not None, stack_id
            for key, value in values.items():
                setattr(row, key, value)
            return row

    def stack_state(self, stack: Stack, action: str, status: str, reason: str, event: bool = True) -> None:
        values: dict[str, Any] = {"action": action, "status": status, "status_reason": reason}
        if action == "UPDATE" and status == "IN_PROGRESS":
            values["updated_at"] = utcnow()
        if action == "DELETE" and status == "COMPLETE":
            values["deleted_at"] = utcnow()
        if status == "IN_PROGRESS":
            values["heartbeat_at"] = utcnow()
        self.set_stack(stack.id, **values)
        stack.action, stack.status, stack.status_reason = action, status, reason
        if event:
            self.event(stack.id, stack.name, stack.id, action, status, reason, STACK_TYPE)

    def children(self, stack_id: str) -> list[Stack]:
        return self.db.read(
            lambda s: list(s.scalars(select(Stack).where(Stack.owner_id == stack_id, Stack.deleted_at.is_(None))))
        )

    # --- resources ----------------------------------------------------------------------------

    def resources(self, stack_id: str, current_only: bool = False) -> list[StackResource]:
        def q(s: Any) -> list[StackResource]:
            stmt = select(StackResource).where(StackResource.stack_id == stack_id)
            if current_only:
                stmt = stmt.where(StackResource.current.is_(True))
            return list(s.scalars(stmt.order_by(StackResource.created_at)))

        return self.db.read(q)

    def add_resource(self, stack_id: str, name: str, type_name: str) -> StackResource:
        with self.db.session() as s:
            row = StackResource(stack_id=stack_id, name=name, type=type_name, action="INIT", status="COMPLETE")
            s.add(row)
            s.flush()
            return row

    def save_resource(self, row: StackResource, event: StackEvent | None = None, **values: Any) -> None:
        """Write the row (and ``event``, in the same transaction)."""
        for key, value in values.items():
            setattr(row, key, value)
        with self.db.session() as s:
            if event is not None:
                s.add(event)
            s.execute(
                update(StackResource)
                .where(StackResource.id == row.id)
                .values(
                    physical_id=row.physical_id,
                    action=row.action,
                    status=row.status,
                    status_reason=row.status_reason,
                    properties=row.properties,
                    data=row.data,
                    current=row.current,
                    nested_stack_id=row.nested_stack_id,
                    type=row.type,
                    rsrc_metadata=row.rsrc_metadata,
                    updated_at=utcnow(),
                )
            )

    def drop_resource(self, row: StackResource) -> None:
        with self.db.session() as s:
            found = s.get(StackResource, row.id)
            if found is not None:
                s.delete(found)

    # --- events -------------------------------------------------------------------------------

    def event(
        self,
        stack_id: str,
        resource_name: str,
        physical_id: str | None,
        action: str,
        status: str,
        reason: str,
        type_name: str,
        properties: dict[str, Any] | None = None,
    ) -> None:
        with self.db.session() as s:
            s.add(
                StackEvent(
                    stack_id=stack_id,
                    resource_name=resource_name,
                    physical_id=physical_id or "",
                    action=action,
                    status=status,
                    reason=reason,
                    type=type_name,
                    properties=properties or {},
                )
            )

    def events(self, stack_id: str, resource_name: str | None = None) -> Sequence[StackEvent]:
        def q(s: Any) -> list[StackEvent]:
            stmt = select(StackEvent).where(StackEvent.stack_id == stack_id)
            if resource_name is not None:
                stmt = stmt.where(StackEvent.resource_name == resource_name)
            return list(s.scalars(stmt.order_by(StackEvent.seq)))

        return self.db.read(q)

    # --- restart ------------------------------------------------------------------------------

    def beat(self, stack_ids: set[str]) -> set[str]:
        """Touch the heartbeat of the stacks this process works on; return those still IN_PROGRESS."""
        if not stack_ids:
            return set()
        with self.db.session() as s:
            live = set(s.scalars(select(Stack.id).where(Stack.id.in_(stack_ids), Stack.status == "IN_PROGRESS")))
            if live:
                s.execute(update(Stack).where(Stack.id.in_(live)).values(heartbeat_at=utcnow()))
            return live

    def fail_interrupted(self, stale_before: Any = None, exclude: set[str] | None = None) -> int:
        """Mark every stack (and its resources) left IN_PROGRESS by an engine that died FAILED,
        as Heat's engine does (``Engine went down during stack ACTION``): stacks whose heartbeat
        is older than ``stale_before`` (all, when None), except ``exclude`` (this process's)."""
        with self.db.session() as s:
            stmt = select(Stack).where(Stack.status == "IN_PROGRESS")
            if stale_before is not None:
                stmt = stmt.where((Stack.heartbeat_at.is_(None)) | (Stack.heartbeat_at < stale_before))
            if exclude:
                stmt = stmt.where(Stack.id.not_in(exclude))
            stacks = list(s.scalars(stmt))
            for st in stacks:
                st.status = "FAILED"
                st.status_reason = f"Engine went down during stack {st.action}"
                s.add(
                    StackEvent(
                        stack_id=st.id,
                        resource_name=st.name,
                        physical_id=st.id,
                        action=st.action,
                        status="FAILED",
                        reason=st.status_reason,
                        type=STACK_TYPE,
                        properties={},
                    )
                )
            ids = [st.id for st in stacks]
            for res in s.scalars(
                select(StackResource).where(StackResource.status == "IN_PROGRESS", StackResource.stack_id.in_(ids))
            ):
                res.status = "FAILED"
                res.status_reason = f"Engine went down during resource {res.action}"
            return len(stacks)
