"""Tables of the compute service: flavors, instances and everything hanging off them.

Capacity claims live on the ``hosts`` table (``*_used`` columns are the sum of the flavors
placed there, claimed atomically by :mod:`overcast.compute.claims`); quota usage is claimed
the same way on ``compute_quota_usages``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.models.base import Base, created_at, new_id, updated_at, uuid_pk


class FlavorRecord(Base):
    __tablename__ = "compute_flavors"

    id: Mapped[str] = mapped_column(String(255), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    vcpus: Mapped[int] = mapped_column(Integer, nullable=False)
    memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    root_gb: Mapped[int] = mapped_column(Integer, nullable=False)
    ephemeral_gb: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    swap_mb: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    rxtx_factor: Mapped[float] = mapped_column(Float, default=1.0, nullable=False)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    description: Mapped[str | None] = mapped_column(String(65535))
    created_at: Mapped[datetime] = created_at()


class FlavorExtraSpec(Base):
    __tablename__ = "compute_flavor_extra_specs"

    flavor_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("compute_flavors.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), nullable=False)


class FlavorAccess(Base):
    __tablename__ = "compute_flavor_access"

    flavor_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("compute_flavors.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)


class InstanceRecord(Base):
    """A server. ``flavor`` and ``image`` are snapshots taken at create time (a flavor may be
    deleted later); ``deleted`` rows stay for ``changes-since`` listings."""

    __tablename__ = "compute_instances"
    __table_args__ = (
        Index("ix_compute_instances_project_deleted", "project_id", "deleted"),
        Index("ix_compute_instances_host", "host"),
    )

    uuid: Mapped[str] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    hv_name: Mapped[str] = mapped_column(String(255), nullable=False)  # oc-<uuid>
    project_id: Mapped[str] = mapped_column(String(255), nullable=False)
    user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(String(255))
    vm_state: Mapped[str] = mapped_column(String(32), nullable=False)
    task_state: Mapped[str | None] = mapped_column(String(32))
    # the process running the server's task (a ``compute_task_runners`` id), set with the task state
    task_owner: Mapped[str | None] = mapped_column(String(36))
    power_state: Mapped[str] = mapped_column(String(32), default="nostate", nullable=False)
    host: Mapped[str | None] = mapped_column(String(255))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    requested_zone: Mapped[str | None] = mapped_column(String(255))
    flavor_id: Mapped[str] = mapped_column(String(255), nullable=False)
    flavor: Mapped[dict] = mapped_column(default=dict)  # overcast.db.values.store(Flavor)
    image_ref: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    image: Mapped[dict | None] = mapped_column()  # overcast.db.values.store(ImageRef)
    key_name: Mapped[str | None] = mapped_column(String(255))
    key_data: Mapped[str | None] = mapped_column(Text)
    user_data: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict] = mapped_column("metadata", default=dict)
    requested_networks: Mapped[list] = mapped_column(default=list)  # [] | "none" | "auto" as list
    addresses: Mapped[dict] = mapped_column(default=dict)  # network name -> [{addr, version, mac}]
    server_group_id: Mapped[str | None] = mapped_column(String(36))
    access_ipv4: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    access_ipv6: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    locked: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    locked_reason: Mapped[str | None] = mapped_column(String(255))  # 2.73
    config_drive: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # path -> base64 content of the config drive, written when it is built (issue 17)
    config_drive_files: Mapped[dict | None] = mapped_column()
    # the volume mappings server create asked for (bdm.Mapping.to_json), made by the build (issue 18)
    block_device_requests: Mapped[list | None] = mapped_column()
    shelved_image_id: Mapped[str | None] = mapped_column(String(36))  # the shelve snapshot (issue 18)
    scheduler_hints: Mapped[dict | None] = mapped_column()  # same_host / different_host server ids (issue 16)
    password: Mapped[str | None] = mapped_column(Text)  # what the guest posted to the metadata service (issue 16)
    reservation_id: Mapped[str | None] = mapped_column(String(36))  # one per create request, r-xxxxxxxx (issue 16)
    progress: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    launched_at: Mapped[datetime | None] = mapped_column(DateTime)
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class InstanceFault(Base):
    __tablename__ = "compute_instance_faults"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("compute_instances.uuid", ondelete="CASCADE"), nullable=False, index=True
    )
    code: Mapped[int] = mapped_column(Integer, nullable=False)
    message: Mapped[str] = mapped_column(String(255), nullable=False)
    details: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = created_at()


class InstanceAction(Base):
    """One user action on a server (create, stop, migrate...), for auditing and tracing."""

    __tablename__ = "compute_instance_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("compute_instances.uuid", ondelete="CASCADE"), nullable=False, index=True
    )
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    request_id: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    user_id: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    project_id: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    message: Mapped[str | None] = mapped_column(String(255))
    start_time: Mapped[datetime] = created_at()
    finish_time: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)  # an event's start or finish (as Nova)


class InstanceActionEvent(Base):
    """One step a service took for an action (Nova's ``compute_`` + its manager's function
    name): ``result`` is ``Success`` or ``Error`` once finished; ``traceback`` (admin only)
    and ``details`` on error; ``host`` where it ran."""

    __tablename__ = "compute_instance_action_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("compute_instance_actions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    event: Mapped[str] = mapped_column(String(255), nullable=False)
    start_time: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    finish_time: Mapped[datetime | None] = mapped_column(DateTime)
    result: Mapped[str | None] = mapped_column(String(255))
    traceback: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(255))


class MigrationRecord(Base):
    __tablename__ = "compute_migrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_id, unique=True, nullable=False)
    instance_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("compute_instances.uuid", ondelete="CASCADE"), nullable=False, index=True
    )
    migration_type: Mapped[str] = mapped_column(String(32), nullable=False)  # migration | live-migration | resize
    source_host: Mapped[str] = mapped_column(String(255), nullable=False)
    dest_host: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    data: Mapped[dict] = mapped_column(default=dict)  # overcast.db.values.store(MigrationData)
    # overcast.db.values.store(Flavor) before and after (equal for a migration): what confirm / revert restore
    old_flavor: Mapped[dict | None] = mapped_column()
    new_flavor: Mapped[dict | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ServerGroupRecord(Base):
    __tablename__ = "compute_server_groups"

    id: Mapped[str] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    project_id: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    policy: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = created_at()


class ServerGroupMember(Base):
    __tablename__ = "compute_server_group_members"

    group_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("compute_server_groups.id", ondelete="CASCADE"), primary_key=True
    )
    instance_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)


class KeyPairRecord(Base):
    __tablename__ = "compute_keypairs"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_compute_keypairs_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    project_id: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    public_key: Mapped[str] = mapped_column(Text, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(255), nullable=False)
    type: Mapped[str] = mapped_column(String(32), default="ssh", nullable=False)
    created_at: Mapped[datetime] = created_at()


class QuotaLimit(Base):
    """An explicit per-project limit; absent rows mean the configured default."""

    __tablename__ = "compute_quota_limits"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer, nullable=False)


class QuotaClassLimit(Base):
    """A quota class's limit (Nova's ``os-quota-class-sets``); the ``default`` class's rows
    replace the configured defaults for every project without its own limit (issue 16)."""

    __tablename__ = "compute_quota_classes"

    class_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer, nullable=False)


class QuotaUsage(Base):
    """What a project uses now; claimed with a conditional UPDATE (see ``quotas.py``)."""

    __tablename__ = "compute_quota_usages"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    in_use: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class BlockDeviceMapping(Base):
    """A volume attached to a server (``os-volume_attachments``)."""

    __tablename__ = "compute_block_device_mappings"
    __table_args__ = (
        UniqueConstraint("instance_uuid", "device_name", name="uq_compute_block_device_mappings_instance_uuid"),
    )

    id: Mapped[str] = uuid_pk()
    instance_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("compute_instances.uuid", ondelete="CASCADE"), nullable=False, index=True
    )
    volume_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    attachment_id: Mapped[str | None] = mapped_column(String(36))  # the volume service's attachment
    device_name: Mapped[str] = mapped_column(String(64), nullable=False)
    connection_info: Mapped[dict] = mapped_column(default=dict)  # overcast.db.values.store(ConnectionInfo)
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    status: Mapped[str] = mapped_column(String(32), default="attaching", nullable=False)
    created_at: Mapped[datetime] = created_at()


class InstancePort(Base):
    """A network port bound to a server, with how it is plugged (``VifDetails``)."""

    __tablename__ = "compute_instance_ports"

    instance_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("compute_instances.uuid", ondelete="CASCADE"), primary_key=True
    )
    port_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    network_id: Mapped[str] = mapped_column(String(36), default="", nullable=False)
    vif: Mapped[dict] = mapped_column(default=dict)  # overcast.db.values.store(VifDetails)
    created_by_compute: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)


class InstanceTag(Base):
    """A server tag (microversion 2.26)."""

    __tablename__ = "compute_instance_tags"

    instance_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("compute_instances.uuid", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(60), primary_key=True)
