"""Tables of the objectstore service: Swift accounts and containers, and the queue of
objects that expire (``X-Delete-At``). Objects themselves, and each container's listing,
live in the storage backend the container's policy names."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.models.base import Base, created_at, updated_at, uuid_pk


class ObjectAccount(Base):
    """An account's metadata (``X-Account-Meta-*``, quotas). Accounts exist implicitly:
    a project's account has a row only once something was set on it."""

    __tablename__ = "objectstore_accounts"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    meta: Mapped[dict] = mapped_column(default=dict)  # lower-case header name -> value
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ObjectContainer(Base):
    __tablename__ = "objectstore_containers"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_objectstore_containers_project_id"),)

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    policy: Mapped[str] = mapped_column(String(255), nullable=False)  # storage policy -> backend
    meta: Mapped[dict] = mapped_column(default=dict)  # lower-case header name -> value
    read_acl: Mapped[str] = mapped_column(Text, default="", nullable=False)
    write_acl: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ObjectExpiry(Base):
    """An object that carries ``X-Delete-At``; the expirer deletes it once due (if the
    object still carries that same time)."""

    __tablename__ = "objectstore_expiring"
    __table_args__ = (Index("ix_objectstore_expiring_delete_at", "delete_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64), nullable=False)
    container: Mapped[str] = mapped_column(String(256), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    delete_at: Mapped[float] = mapped_column(Float, nullable=False)
