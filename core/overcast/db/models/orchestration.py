"""Tables of the orchestration service: stacks, their resources and events (Heat's model).

A stack keeps what it was made from (template, files, environment, parameters) and who owns
it (the user and project the engine acts as). Deleted stacks stay with ``deleted_at`` set
(Heat soft-deletes), so their events can still be read by id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.models.base import Base, created_at, new_id, updated_at, uuid_pk


class Stack(Base):
    __tablename__ = "orchestration_stacks"
    __table_args__ = (Index("ix_orchestration_stacks_project_name", "project_id", "name"),)

    id: Mapped[str] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    project_id: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    username: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True)  # the parent stack
    parent_resource: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32), default="CREATE", nullable=False)
    status: Mapped[str] = mapped_column(String(32), default="IN_PROGRESS", nullable=False)
    status_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    template: Mapped[dict] = mapped_column(default=dict)
    files: Mapped[dict] = mapped_column(default=dict)
    environment: Mapped[dict] = mapped_column(default=dict)
    parameters: Mapped[dict] = mapped_column(default=dict)  # resolved values
    prev_template: Mapped[dict | None] = mapped_column(default=None)  # before an update (rollback)
    prev_environment: Mapped[dict | None] = mapped_column(default=None)
    prev_files: Mapped[dict | None] = mapped_column(default=None)
    prev_parameters: Mapped[dict | None] = mapped_column(default=None)
    disable_rollback: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    timeout_mins: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[list] = mapped_column(default=list)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: touched while an engine works on the stack; a stale one means that engine died
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)


class StackResource(Base):
    __tablename__ = "orchestration_resources"
    __table_args__ = (Index("ix_orchestration_resources_stack_name", "stack_id", "name"),)

    id: Mapped[str] = uuid_pk()
    stack_id: Mapped[str] = mapped_column(String(36), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    type: Mapped[str] = mapped_column(String(255), nullable=False)
    physical_id: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32), default="INIT", nullable=False)
    status: Mapped[str] = mapped_column(String(32), default="COMPLETE", nullable=False)
    status_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    properties: Mapped[dict] = mapped_column(default=dict)  # the values last applied
    data: Mapped[dict] = mapped_column(default=dict)
    rsrc_metadata: Mapped[dict] = mapped_column(default=dict)
    current: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)  # False: replaced, to delete
    nested_stack_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class StackEvent(Base):
    __tablename__ = "orchestration_events"
    __table_args__ = (Index("ix_orchestration_events_stack_seq", "stack_id", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), default=new_id, nullable=False, unique=True)
    stack_id: Mapped[str] = mapped_column(String(36), nullable=False)
    resource_name: Mapped[str] = mapped_column(String(255), nullable=False)
    physical_id: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    type: Mapped[str] = mapped_column(String(255), nullable=False)
    properties: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()
