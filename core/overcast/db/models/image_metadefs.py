"""Tables of the image service's metadata definitions catalog (Glance's metadefs) and of
its import tasks.

A namespace groups property definitions, objects (named groups of properties) and tags,
and is associated with resource types (``OS::Glance::Image``...) it applies to. Its
``owner`` is the project that made it; ``visibility`` says whether others see it. An image
task records one interoperable import (``glance-direct``, ``web-download``) of an image.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from overcast.db.models.base import Base, created_at, updated_at, uuid_pk


class MetadefNamespace(Base):
    __tablename__ = "metadef_namespaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    display_name: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(32), default="private", nullable=False)
    protected: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    objects: Mapped[list[MetadefObject]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    properties: Mapped[list[MetadefProperty]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    tags: Mapped[list[MetadefTag]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    associations: Mapped[list[MetadefAssociation]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class MetadefResourceType(Base):
    """A kind of resource namespaces apply to; ``protected`` ones are the built-in set."""

    __tablename__ = "metadef_resource_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    protected: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class MetadefAssociation(Base):
    """A namespace applies to a resource type (with an optional key prefix)."""

    __tablename__ = "metadef_namespace_resource_types"
    __table_args__ = (
        UniqueConstraint("namespace_id", "resource_type_id", name="uq_metadef_namespace_resource_types_namespace_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # named here: the naming convention's names exceed PostgreSQL's 63 characters
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE", name="fk_metadef_nrt_namespace_id"),
        nullable=False,
        index=True,
    )
    resource_type_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_resource_types.id", ondelete="CASCADE", name="fk_metadef_nrt_resource_type_id"),
        nullable=False,
        index=True,
    )
    prefix: Mapped[str | None] = mapped_column(String(80))
    properties_target: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    resource_type: Mapped[MetadefResourceType] = relationship(lazy="selectin")


class MetadefObject(Base):
    __tablename__ = "metadef_objects"
    __table_args__ = (UniqueConstraint("namespace_id", "name", name="uq_metadef_objects_namespace_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    required: Mapped[list[Any]] = mapped_column(JSON, default=list, nullable=False)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class MetadefProperty(Base):
    """A property definition: ``schema`` holds its JSON-schema attributes (type, enum...)."""

    __tablename__ = "metadef_properties"
    __table_args__ = (UniqueConstraint("namespace_id", "name", name="uq_metadef_properties_namespace_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class MetadefTag(Base):
    __tablename__ = "metadef_tags"
    __table_args__ = (UniqueConstraint("namespace_id", "name", name="uq_metadef_tags_namespace_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ImageTask(Base):
    """One import of an image: ``pending`` -> ``processing`` -> ``success`` | ``failure``."""

    __tablename__ = "image_tasks"

    id: Mapped[str] = uuid_pk()
    type: Mapped[str] = mapped_column(String(30), nullable=False)
    status: Mapped[str] = mapped_column(String(30), nullable=False)
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    image_id: Mapped[str | None] = mapped_column(String(36), index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64))
    input: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message: Mapped[str] = mapped_column(Text, default="", nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
