"""Compute hosts and service records (what ``overcast hosts list`` and ``os-services`` show).

A host row mirrors a configured ``[hosts.NAME]`` (or an agent that registered itself).
Capacity columns are what the scheduler claims against, atomically in SQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.models.base import Base, created_at, updated_at, uuid_pk


class HostRecord(Base):
    __tablename__ = "hosts"

    id: Mapped[str] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    driver: Mapped[str] = mapped_column(String(64), nullable=False)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova", nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    last_heartbeat: Mapped[datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(String(1024))  # why the host cannot be used
    capabilities: Mapped[dict] = mapped_column(default=dict)  # overcast.db.values.store(HvCapabilities)
    hypervisor_type: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    hypervisor_version: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    vcpus: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    local_gb: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    vcpus_used: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    memory_mb_used: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    local_gb_used: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    running_vms: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ServiceRecord(Base):
    """One running service binary on one host (``overcast-compute`` on ``node1``)."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("binary", "host", name="uq_services_binary_host"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    binary: Mapped[str] = mapped_column(String(64), nullable=False)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    topic: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova", nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    report_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class TaskRunnerRecord(Base):
    """A process that runs server tasks (a controller, ``overcast up`` or one of its API
    workers), alive while ``expires_at`` is ahead (it moves it on every heartbeat interval):
    :mod:`overcast.compute.owners`."""

    __tablename__ = "compute_task_runners"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
