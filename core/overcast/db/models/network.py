"""Tables of the network service (Neutron's data model, trimmed to what Overcast serves).

Concurrency rests on constraints, not locks in memory:

* ``network_ip_allocations`` has the primary key ``(subnet_id, ip_address)``: two port creates
  that pick the same address cannot both commit, the loser retries with the next address;
* ``network_networks.segment_key`` (``vxlan:1001``, ``flat:public``) is unique, so a VXLAN id
  or a physical network is handed out once;
* ``network_ports.mac_address`` is unique per network;
* ``network_security_groups.default_for_project`` is unique, so a project gets one default
  group even when two first requests race.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from overcast.db.models.base import Base, created_at, updated_at, uuid_pk

_CASCADE = "all, delete-orphan"


class NetworkRecord(Base):
    __tablename__ = "network_networks"

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    description: Mapped[str] = mapped_column(String(1024), default="", nullable=False)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE", nullable=False)
    shared: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    mtu: Mapped[int] = mapped_column(Integer, default=1450, nullable=False)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    network_type: Mapped[str] = mapped_column(String(16), nullable=False)  # flat | vxlan
    physical_network: Mapped[str | None] = mapped_column(String(64))
    segmentation_id: Mapped[int | None] = mapped_column(Integer)
    segment_key: Mapped[str] = mapped_column(String(96), unique=True, nullable=False)
    revision_number: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    subnets: Mapped[list[SubnetRecord]] = relationship(
        back_populates="network", cascade=_CASCADE, order_by="SubnetRecord.created_at"
    )


class SubnetRecord(Base):
    __tablename__ = "network_subnets"

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    network_id: Mapped[str] = mapped_column(
        ForeignKey("network_networks.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    description: Mapped[str] = mapped_column(String(1024), default="", nullable=False)
    ip_version: Mapped[int] = mapped_column(Integer, nullable=False)
    cidr: Mapped[str] = mapped_column(String(64), nullable=False)
    gateway_ip: Mapped[str | None] = mapped_column(String(64))
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    dns_nameservers: Mapped[list] = mapped_column(default=list)
    host_routes: Mapped[list] = mapped_column(default=list)  # [{"destination", "nexthop"}]
    allocation_pools: Mapped[list] = mapped_column(default=list)  # [{"start", "end"}]
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32))
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32))
    # the pool the CIDR was allocated from; a pool with allocations cannot be deleted
    subnetpool_id: Mapped[str | None] = mapped_column(
        ForeignKey("network_subnetpools.id", ondelete="RESTRICT"), index=True
    )
    revision_number: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    network: Mapped[NetworkRecord] = relationship(back_populates="subnets")


class SubnetPoolRecord(Base):
    """A pool of prefixes that subnets take their CIDRs from (Neutron's subnet allocation)."""

    __tablename__ = "network_subnetpools"

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    description: Mapped[str] = mapped_column(String(1024), default="", nullable=False)
    ip_version: Mapped[int] = mapped_column(Integer, nullable=False)
    prefixes: Mapped[list] = mapped_column(default=list)  # CIDR strings, collapsed
    min_prefixlen: Mapped[int] = mapped_column(Integer, nullable=False)
    max_prefixlen: Mapped[int] = mapped_column(Integer, nullable=False)
    default_prefixlen: Mapped[int] = mapped_column(Integer, nullable=False)
    shared: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    revision_number: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class PortRecord(Base):
    __tablename__ = "network_ports"
    __table_args__ = (UniqueConstraint("network_id", "mac_address", name="uq_network_ports_network_id_mac"),)

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    network_id: Mapped[str] = mapped_column(ForeignKey("network_networks.id"), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    description: Mapped[str] = mapped_column(String(1024), default="", nullable=False)
    mac_address: Mapped[str] = mapped_column(String(32), nullable=False)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="DOWN", nullable=False)
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True, nullable=False)
    device_owner: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    binding_host: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    binding_vif_type: Mapped[str] = mapped_column(String(64), default="unbound", nullable=False)
    binding_vif_details: Mapped[dict] = mapped_column(default=dict)
    binding_vnic_type: Mapped[str] = mapped_column(String(64), default="normal", nullable=False)
    binding_profile: Mapped[dict] = mapped_column(default=dict)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    allowed_address_pairs: Mapped[list] = mapped_column(default=list)  # [{"ip_address", "mac_address"}]
    delete_with_device: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)  # made for a server
    revision_number: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    fixed_ips: Mapped[list[IpAllocationRecord]] = relationship(
        cascade=_CASCADE, order_by="IpAllocationRecord.ip_address"
    )
    security_groups: Mapped[list[PortSecurityGroupRecord]] = relationship(cascade=_CASCADE)


class IpAllocationRecord(Base):
    """One address of one port. The primary key is the IPAM guarantee."""

    __tablename__ = "network_ip_allocations"

    subnet_id: Mapped[str] = mapped_column(ForeignKey("network_subnets.id"), primary_key=True)
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("network_ports.id", ondelete="CASCADE"), index=True, nullable=False)
    network_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)


class PortSecurityGroupRecord(Base):
    __tablename__ = "network_port_security_groups"

    port_id: Mapped[str] = mapped_column(ForeignKey("network_ports.id", ondelete="CASCADE"), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("network_security_groups.id"), primary_key=True)


class SecurityGroupRecord(Base):
    __tablename__ = "network_security_groups"

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    description: Mapped[str] = mapped_column(String(1024), default="", nullable=False)
    stateful: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    default_for_project: Mapped[str | None] = mapped_column(String(64), unique=True)
    revision_number: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    rules: Mapped[list[SecurityGroupRuleRecord]] = relationship(
        cascade=_CASCADE,
        foreign_keys="SecurityGroupRuleRecord.security_group_id",
        order_by="SecurityGroupRuleRecord.created_at",
    )


class SecurityGroupRuleRecord(Base):
    __tablename__ = "network_security_group_rules"

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("network_security_groups.id", ondelete="CASCADE"), index=True, nullable=False
    )
    direction: Mapped[str] = mapped_column(String(16), nullable=False)
    ethertype: Mapped[str] = mapped_column(String(8), default="IPv4", nullable=False)
    protocol: Mapped[str | None] = mapped_column(String(40))
    port_range_min: Mapped[int | None] = mapped_column(Integer)
    port_range_max: Mapped[int | None] = mapped_column(Integer)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64))
    remote_group_id: Mapped[str | None] = mapped_column(ForeignKey("network_security_groups.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(String(1024), default="", nullable=False)
    revision_number: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class RouterRecord(Base):
    __tablename__ = "network_routers"

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    description: Mapped[str] = mapped_column(String(1024), default="", nullable=False)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE", nullable=False)
    gw_port_id: Mapped[str | None] = mapped_column(ForeignKey("network_ports.id"))
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    routes: Mapped[list] = mapped_column(default=list)
    revision_number: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class FloatingIpRecord(Base):
    __tablename__ = "network_floating_ips"
    __table_args__ = (UniqueConstraint("fixed_port_id", "fixed_ip_address", name="uq_network_floating_ips_fixed"),)

    id: Mapped[str] = uuid_pk()
    project_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    description: Mapped[str] = mapped_column(String(1024), default="", nullable=False)
    floating_network_id: Mapped[str] = mapped_column(ForeignKey("network_networks.id"), nullable=False)
    floating_port_id: Mapped[str] = mapped_column(ForeignKey("network_ports.id"), unique=True, nullable=False)
    floating_ip_address: Mapped[str] = mapped_column(String(64), nullable=False)
    fixed_port_id: Mapped[str | None] = mapped_column(ForeignKey("network_ports.id"))
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64))
    router_id: Mapped[str | None] = mapped_column(ForeignKey("network_routers.id"))
    status: Mapped[str] = mapped_column(String(16), default="DOWN", nullable=False)
    revision_number: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class NetworkQuotaRecord(Base):
    """A project's limit for one resource; absent rows mean the configured default.
    The row set of a project is also the lock that serialises its quota checks."""

    __tablename__ = "network_quotas"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer, nullable=False)
