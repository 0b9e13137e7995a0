"""Volume transfers (Cinder's ``os-volume-transfer`` / ``volume-transfers``): a volume
offered by its project to whoever presents the transfer's id and auth key. Only a salted
hash of the key is kept; the key itself is shown once, at create."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.models.base import Base, created_at, updated_at, uuid_pk


class VolumeTransfer(Base):
    __tablename__ = "volume_transfers"

    id: Mapped[str] = uuid_pk()
    volume_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    salt: Mapped[str] = mapped_column(String(64), nullable=False)
    crypt_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    source_project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    no_snapshots: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
