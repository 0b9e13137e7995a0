"""Tables of the image service: images, their properties, tags, members and locations.

An image row is the Glance image record; ``owner`` is the owning project. Data lives in the
image store; ``image_locations`` holds the URI(s) the store returned (its scheme routes to
the store). ``saving_by`` names the process that is uploading, so a restart can tell a dead
upload from a live one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from overcast.db.models.base import Base, created_at, updated_at, uuid_pk


class Image(Base):
    __tablename__ = "images"

    id: Mapped[str] = uuid_pk()
    name: Mapped[str | None] = mapped_column(String(255))
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(30), default="queued", nullable=False, index=True)
    visibility: Mapped[str] = mapped_column(String(20), default="shared", nullable=False, index=True)
    protected: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    os_hidden: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    disk_format: Mapped[str | None] = mapped_column(String(20))
    container_format: Mapped[str | None] = mapped_column(String(20))
    size: Mapped[int | None] = mapped_column(BigInteger)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(32))
    os_hash_algo: Mapped[str | None] = mapped_column(String(64))
    os_hash_value: Mapped[str | None] = mapped_column(String(128))
    min_disk: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    min_ram: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    saving_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    properties: Mapped[list[ImageProperty]] = relationship(
        back_populates="image", cascade="all, delete-orphan", lazy="selectin"
    )
    tags: Mapped[list[ImageTag]] = relationship(back_populates="image", cascade="all, delete-orphan", lazy="selectin")
    locations: Mapped[list[ImageLocation]] = relationship(
        back_populates="image", cascade="all, delete-orphan", lazy="selectin"
    )


class ImageProperty(Base):
    """An arbitrary ``key = value`` (``hypervisor_type``, ``hw_*``, ``os_*``...)."""

    __tablename__ = "image_properties"
    __table_args__ = (UniqueConstraint("image_id", "name", name="uq_image_properties_image_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)

    image: Mapped[Image] = relationship(back_populates="properties")


class ImageTag(Base):
    __tablename__ = "image_tags"
    __table_args__ = (UniqueConstraint("image_id", "value", name="uq_image_tags_image_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True)
    value: Mapped[str] = mapped_column(String(255), nullable=False)

    image: Mapped[Image] = relationship(back_populates="tags")


class ImageMember(Base):
    """A project an image is shared with; ``status`` is pending, accepted or rejected."""

    __tablename__ = "image_members"
    __table_args__ = (UniqueConstraint("image_id", "member", name="uq_image_members_image_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True)
    member: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ImageLocation(Base):
    """Where the store put the data: a URI whose scheme names the store."""

    __tablename__ = "image_locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    store: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    crc32: Mapped[int | None] = mapped_column(BigInteger)  # of the stored copy, checked on read
    created_at: Mapped[datetime] = created_at()

    image: Mapped[Image] = relationship(back_populates="locations")
