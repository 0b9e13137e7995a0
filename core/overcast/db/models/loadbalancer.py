"""Tables of the load-balancer service (Octavia's data model, trimmed to what Overcast serves).

Every object carries Octavia's two statuses: ``provisioning_status`` (what the service is
doing with it: ``PENDING_CREATE``/``PENDING_UPDATE``/``PENDING_DELETE``, ``ACTIVE``,
``ERROR``) and ``operating_status`` (what the health checks see: ``ONLINE``, ``DEGRADED``,
``ERROR``, ``NO_MONITOR``, ``OFFLINE``, ``DRAINING``). Children are deleted with their load
balancer (``ON DELETE CASCADE``). A listener port is unique per load balancer, a member's
address and port per pool, and a pool has at most one health monitor: the constraints keep
that true under races.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.models.base import Base, created_at, updated_at, uuid_pk


def _lb_fk() -> Mapped[str]:
    return mapped_column(ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True, nullable=False)


class _LbObject:
    """Columns every Octavia object has."""

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    description: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    provisioning_status: Mapped[str] = mapped_column(String(16), default="PENDING_CREATE", nullable=False)
    operating_status: Mapped[str] = mapped_column(String(16), default="OFFLINE", nullable=False)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class LoadBalancerRecord(_LbObject, Base):
    __tablename__ = "lb_loadbalancers"

    vip_address: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    vip_port_id: Mapped[str] = mapped_column(String(36), default="", nullable=False)
    vip_subnet_id: Mapped[str] = mapped_column(String(36), default="", nullable=False)
    vip_network_id: Mapped[str] = mapped_column(String(36), nullable=False)
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    flavor_id: Mapped[str | None] = mapped_column(String(36))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    host: Mapped[str] = mapped_column(String(255), default="", nullable=False)  # where its data plane runs
    vip_sg_id: Mapped[str | None] = mapped_column(String(36))  # the VIP port's group, opened per listener


class ListenerRecord(_LbObject, Base):
    __tablename__ = "lb_listeners"
    __table_args__ = (UniqueConstraint("loadbalancer_id", "protocol_port", name="uq_lb_listeners_port"),)

    loadbalancer_id: Mapped[str] = _lb_fk()
    protocol: Mapped[str] = mapped_column(String(32), nullable=False)
    protocol_port: Mapped[int] = mapped_column(Integer, nullable=False)
    connection_limit: Mapped[int] = mapped_column(Integer, default=-1, nullable=False)
    default_pool_id: Mapped[str | None] = mapped_column(String(36))
    timeout_client_data: Mapped[int] = mapped_column(Integer, default=50000, nullable=False)
    timeout_member_connect: Mapped[int] = mapped_column(Integer, default=5000, nullable=False)
    timeout_member_data: Mapped[int] = mapped_column(Integer, default=50000, nullable=False)
    timeout_tcp_inspect: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    insert_headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    allowed_cidrs: Mapped[list[Any]] = mapped_column(JSON, default=list, nullable=False)


class PoolRecord(_LbObject, Base):
    __tablename__ = "lb_pools"

    loadbalancer_id: Mapped[str] = _lb_fk()
    listener_id: Mapped[str | None] = mapped_column(String(36), index=True)  # the listener it was made for
    protocol: Mapped[str] = mapped_column(String(32), nullable=False)
    lb_algorithm: Mapped[str] = mapped_column(String(32), nullable=False)
    session_persistence: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class MemberRecord(_LbObject, Base):
    __tablename__ = "lb_members"
    __table_args__ = (UniqueConstraint("pool_id", "address", "protocol_port", name="uq_lb_members_address"),)

    loadbalancer_id: Mapped[str] = _lb_fk()
    pool_id: Mapped[str] = mapped_column(ForeignKey("lb_pools.id", ondelete="CASCADE"), index=True, nullable=False)
    address: Mapped[str] = mapped_column(String(64), nullable=False)
    protocol_port: Mapped[int] = mapped_column(Integer, nullable=False)
    weight: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    backup: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    subnet_id: Mapped[str | None] = mapped_column(String(36))
    monitor_address: Mapped[str | None] = mapped_column(String(64))
    monitor_port: Mapped[int | None] = mapped_column(Integer)


class HealthMonitorRecord(_LbObject, Base):
    __tablename__ = "lb_healthmonitors"

    loadbalancer_id: Mapped[str] = _lb_fk()
    pool_id: Mapped[str] = mapped_column(
        ForeignKey("lb_pools.id", ondelete="CASCADE"), unique=True, index=True, nullable=False
    )
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    delay: Mapped[int] = mapped_column(Integer, nullable=False)
    timeout: Mapped[int] = mapped_column(Integer, nullable=False)
    max_retries: Mapped[int] = mapped_column(Integer, nullable=False)
    max_retries_down: Mapped[int] = mapped_column(Integer, default=3, nullable=False)
    http_method: Mapped[str | None] = mapped_column(String(16))
    url_path: Mapped[str | None] = mapped_column(String(2048))
    expected_codes: Mapped[str | None] = mapped_column(String(64))
    http_version: Mapped[float | None] = mapped_column(Float)
    domain_name: Mapped[str | None] = mapped_column(String(255))


class L7PolicyRecord(_LbObject, Base):
    __tablename__ = "lb_l7policies"

    loadbalancer_id: Mapped[str] = _lb_fk()
    listener_id: Mapped[str] = mapped_column(
        ForeignKey("lb_listeners.id", ondelete="CASCADE"), index=True, nullable=False
    )
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    redirect_url: Mapped[str | None] = mapped_column(String(2048))
    redirect_prefix: Mapped[str | None] = mapped_column(String(2048))
    redirect_pool_id: Mapped[str | None] = mapped_column(String(36))
    redirect_http_code: Mapped[int | None] = mapped_column(Integer)


class L7RuleRecord(_LbObject, Base):
    __tablename__ = "lb_l7rules"

    loadbalancer_id: Mapped[str] = _lb_fk()
    l7policy_id: Mapped[str] = mapped_column(
        ForeignKey("lb_l7policies.id", ondelete="CASCADE"), index=True, nullable=False
    )
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    compare_type: Mapped[str] = mapped_column(String(32), nullable=False)
    key: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255), nullable=False)
    invert: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)


class LbQuotaRecord(Base):
    """A project's limit for one resource (no row: the ``[loadbalancing]`` default)."""

    __tablename__ = "lb_quotas"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(32), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer, nullable=False)
