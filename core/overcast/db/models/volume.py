"""Tables of the volume service: volumes, types, snapshots, attachments, quotas, backends.

Status changes are made with conditional UPDATEs (``WHERE status IN (...)``) by
``overcast.volume.state``, and quota usage with conditional increments by
``overcast.volume.quotas``, so concurrent requests cannot both win.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.models.base import Base, created_at, updated_at, uuid_pk

#: Cinder's volume statuses.
VOLUME_STATUSES = (
    "creating",
    "available",
    "reserved",
    "attaching",
    "in-use",
    "detaching",
    "extending",
    "uploading",
    "downloading",
    "error",
    "error_extending",
    "deleting",
    "error_deleting",
    # volume backups (issue 18)
    "backing-up",
    "restoring-backup",
    "error_restoring",
    "reverting",  # revert to a snapshot (issue 18)
    "awaiting-transfer",  # offered to another project (issue 18)
    "maintenance",  # set by an admin (reset-status): only a force-delete takes it
)
SNAPSHOT_STATUSES = ("creating", "available", "deleting", "error", "error_deleting")
ATTACHMENT_STATUSES = ("reserved", "attaching", "attached", "detaching", "error_attaching", "error_detaching")

DEFAULT_TYPE_NAME = "__DEFAULT__"
DEFAULT_TYPE_ID = "00000000-0000-0000-0000-00000000d0f7"


class VolumeType(Base):
    __tablename__ = "volume_types"

    id: Mapped[str] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(String(255))
    is_public: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    extra_specs: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    qos_specs_id: Mapped[str | None] = mapped_column(String(36))  # a VolumeQosSpecs, or none
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class VolumeTypeProject(Base):
    """A project that may use a private (``is_public`` false) volume type."""

    __tablename__ = "volume_type_projects"
    __table_args__ = (UniqueConstraint("volume_type_id", "project_id", name="uq_volume_type_projects_type_project"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    volume_type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id", ondelete="CASCADE"), nullable=False)
    project_id: Mapped[str] = mapped_column(String(64), nullable=False)


class VolumeQosSpecs(Base):
    """Cinder's QoS specs: named I/O limits a volume type carries (``consumer`` says who
    applies them: ``front-end`` the hypervisor, ``back-end`` the storage, or ``both``)."""

    __tablename__ = "volume_qos_specs"

    id: Mapped[str] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    consumer: Mapped[str] = mapped_column(String(16), default="back-end", nullable=False)
    specs: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class VolumeGroupType(Base):
    """A generic volume group type (Cinder 3.11+) with its ``group_specs``."""

    __tablename__ = "volume_group_types"

    id: Mapped[str] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(String(255))
    is_public: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    group_specs: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class VolumeGroup(Base):
    """A generic volume group (Cinder 3.13+): volumes of the listed types, snapshotted together."""

    __tablename__ = "volume_groups"

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), default="creating", nullable=False)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova", nullable=False)
    group_type_id: Mapped[str] = mapped_column(String(36), nullable=False)
    volume_type_ids: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    group_snapshot_id: Mapped[str | None] = mapped_column(String(36))
    source_group_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class VolumeGroupSnapshot(Base):
    """One snapshot of every volume of a group, taken together (Cinder 3.14+)."""

    __tablename__ = "volume_group_snapshots"

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    group_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    group_type_id: Mapped[str] = mapped_column(String(36), nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), default="creating", nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class VolumeQuotaClass(Base):
    """A quota class's limit for one resource; class ``default`` overrides the configured defaults."""

    __tablename__ = "volume_quota_classes"
    __table_args__ = (UniqueConstraint("class_name", "resource", name="uq_volume_quota_classes_class_resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    class_name: Mapped[str] = mapped_column(String(255), nullable=False)
    resource: Mapped[str] = mapped_column(String(64), nullable=False)
    hard_limit: Mapped[int] = mapped_column(Integer, nullable=False)


class VolumeMessage(Base):
    """A user message (Cinder 3.3+): why an asynchronous operation on a resource failed."""

    __tablename__ = "volume_messages"

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    request_id: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    resource_type: Mapped[str] = mapped_column(String(64), nullable=False)
    resource_uuid: Mapped[str | None] = mapped_column(String(36))
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    message_level: Mapped[str] = mapped_column(String(16), default="ERROR", nullable=False)
    user_message: Mapped[str] = mapped_column(String(1024), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    created_at: Mapped[datetime] = created_at()


class Volume(Base):
    __tablename__ = "volumes"

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(32), default="creating", nullable=False)
    previous_status: Mapped[str | None] = mapped_column(String(32))
    # Cinder's: starting, migrating, completing, success, error; target:<id> on a migration's target
    migration_status: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)  # why it went to error (admins see it)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova", nullable=False)
    volume_type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id"), nullable=False)
    backend: Mapped[str | None] = mapped_column(String(255))
    location: Mapped[str | None] = mapped_column(String(1024))
    copy_on_write: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    snapshot_id: Mapped[str | None] = mapped_column(String(36))
    source_volid: Mapped[str | None] = mapped_column(String(36))
    image_id: Mapped[str | None] = mapped_column(String(36))
    image_metadata: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    multiattach: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    bootable: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # None until os-update_readonly_flag sets it (Cinder's admin metadata, shown in ``metadata``)
    readonly: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict, nullable=False)
    group_id: Mapped[str | None] = mapped_column(String(36), index=True)  # a VolumeGroup
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class VolumeSnapshot(Base):
    __tablename__ = "volume_snapshots"

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True, nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(32), default="creating", nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(1024))
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict, nullable=False)
    group_snapshot_id: Mapped[str | None] = mapped_column(String(36), index=True)  # a VolumeGroupSnapshot
    progress: Mapped[str | None] = mapped_column(String(255))  # os-update_snapshot_status sets it
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class VolumeAttachment(Base):
    """One server's use of one volume; a row exists from reservation until detach."""

    __tablename__ = "volume_attachments"
    __table_args__ = (UniqueConstraint("volume_id", "instance_uuid", name="uq_volume_attachments_volume_instance"),)

    id: Mapped[str] = uuid_pk()
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True, nullable=False)
    project_id: Mapped[str] = mapped_column(String(64), nullable=False)
    instance_uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    attached_host: Mapped[str | None] = mapped_column(String(255))
    mountpoint: Mapped[str | None] = mapped_column(String(255))
    attach_mode: Mapped[str] = mapped_column(String(4), default="rw", nullable=False)
    attach_status: Mapped[str] = mapped_column(String(32), default="reserved", nullable=False)
    connector: Mapped[dict | None] = mapped_column(JSON)  # overcast.db.values.store(Connector)
    connection_info: Mapped[dict | None] = mapped_column(JSON)  # overcast.db.values.store(ConnectionInfo)
    attached_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class VolumeQuota(Base):
    """A project's limit for one resource (``volumes``, ``gigabytes``, ``snapshots``)."""

    __tablename__ = "volume_quotas"
    __table_args__ = (UniqueConstraint("project_id", "resource", name="uq_volume_quotas_project_resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64), nullable=False)
    resource: Mapped[str] = mapped_column(String(64), nullable=False)
    hard_limit: Mapped[int] = mapped_column(Integer, nullable=False)


class VolumeQuotaUsage(Base):
    """What a project holds; changed only by conditional UPDATEs against the limit."""

    __tablename__ = "volume_quota_usages"
    __table_args__ = (UniqueConstraint("project_id", "resource", name="uq_volume_quota_usages_project_resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64), nullable=False)
    resource: Mapped[str] = mapped_column(String(64), nullable=False)
    in_use: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class VolumeBackendService(Base):
    """A configured volume backend as ``os-services`` shows it (binary ``cinder-volume``)."""

    __tablename__ = "volume_backend_services"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    driver: Mapped[str] = mapped_column(String(64), nullable=False)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova", nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    up: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    total_gb: Mapped[float] = mapped_column(default=0.0, nullable=False)
    free_gb: Mapped[float] = mapped_column(default=0.0, nullable=False)
    stats: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
