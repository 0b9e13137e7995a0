"""Volume backups (Cinder's ``backups``): the record of chunks kept in a backup target.

The data lives in the target (``[backup]``, by default the project's own object store, in
``container``); ``object_prefix`` names the backup's objects there (``<prefix>-00001``...,
``<prefix>_metadata``). ``volume_id`` is not a foreign key: a volume may be deleted while
its backups are kept (Cinder's rule), and an imported backup names no volume at all.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.models.base import Base, created_at, updated_at, uuid_pk

#: Cinder's backup statuses.
BACKUP_STATUSES = ("creating", "available", "deleting", "error", "error_deleting", "restoring")


class VolumeBackup(Base):
    __tablename__ = "volume_backups"

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    volume_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    snapshot_id: Mapped[str | None] = mapped_column(String(36))
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), default="creating", nullable=False)
    fail_reason: Mapped[str | None] = mapped_column(Text)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova", nullable=False)
    container: Mapped[str] = mapped_column(String(255), nullable=False)
    object_prefix: Mapped[str] = mapped_column(String(512), nullable=False)
    driver: Mapped[str] = mapped_column(String(64), nullable=False)  # the [backup] driver that holds it
    size: Mapped[int] = mapped_column(Integer, nullable=False)  # GiB of the volume backed up
    object_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)  # written by this backup
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    is_incremental: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    restore_volume_id: Mapped[str | None] = mapped_column(String(36))
    data_timestamp: Mapped[datetime | None] = mapped_column(DateTime)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict, nullable=False)
    # the backed-up volume's own metadata, put back on the volume a restore writes (as Cinder)
    volume_metadata: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
