"""The network service's tables.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("revision_number", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "network_networks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("admin_state_up", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("external", sa.Boolean, nullable=False),
        sa.Column("mtu", sa.Integer, nullable=False),
        sa.Column("port_security_enabled", sa.Boolean, nullable=False),
        sa.Column("network_type", sa.String(16), nullable=False),
        sa.Column("physical_network", sa.String(64)),
        sa.Column("segmentation_id", sa.Integer),
        sa.Column("segment_key", sa.String(96), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_network_networks"),
        sa.UniqueConstraint("segment_key", name="uq_network_networks_segment_key"),
    )
    op.create_index("ix_network_networks_project_id", "network_networks", ["project_id"])

    op.create_table(
        "network_subnets",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("network_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("ip_version", sa.Integer, nullable=False),
        sa.Column("cidr", sa.String(64), nullable=False),
        sa.Column("gateway_ip", sa.String(64)),
        sa.Column("enable_dhcp", sa.Boolean, nullable=False),
        sa.Column("dns_nameservers", sa.JSON, nullable=False),
        sa.Column("host_routes", sa.JSON, nullable=False),
        sa.Column("allocation_pools", sa.JSON, nullable=False),
        sa.Column("ipv6_ra_mode", sa.String(32)),
        sa.Column("ipv6_address_mode", sa.String(32)),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_network_subnets"),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["network_networks.id"],
            ondelete="CASCADE",
            name="fk_network_subnets_network_id_network_networks",
        ),
    )
    op.create_index("ix_network_subnets_project_id", "network_subnets", ["project_id"])
    op.create_index("ix_network_subnets_network_id", "network_subnets", ["network_id"])

    op.create_table(
        "network_ports",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("network_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("mac_address", sa.String(32), nullable=False),
        sa.Column("admin_state_up", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("device_id", sa.String(255), nullable=False),
        sa.Column("device_owner", sa.String(255), nullable=False),
        sa.Column("binding_host", sa.String(255), nullable=False),
        sa.Column("binding_vif_type", sa.String(64), nullable=False),
        sa.Column("binding_vif_details", sa.JSON, nullable=False),
        sa.Column("binding_vnic_type", sa.String(64), nullable=False),
        sa.Column("binding_profile", sa.JSON, nullable=False),
        sa.Column("port_security_enabled", sa.Boolean, nullable=False),
        sa.Column("allowed_address_pairs", sa.JSON, nullable=False),
        sa.Column("delete_with_device", sa.Boolean, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_network_ports"),
        sa.ForeignKeyConstraint(
            ["network_id"], ["network_networks.id"], name="fk_network_ports_network_id_network_networks"
        ),
        sa.UniqueConstraint("network_id", "mac_address", name="uq_network_ports_network_id_mac"),
    )
    op.create_index("ix_network_ports_project_id", "network_ports", ["project_id"])
    op.create_index("ix_network_ports_network_id", "network_ports", ["network_id"])
    op.create_index("ix_network_ports_device_id", "network_ports", ["device_id"])

    op.create_table(
        "network_ip_allocations",
        sa.Column("subnet_id", sa.String(36), nullable=False),
        sa.Column("ip_address", sa.String(64), nullable=False),
        sa.Column("port_id", sa.String(36), nullable=False),
        sa.Column("network_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("subnet_id", "ip_address", name="pk_network_ip_allocations"),
        sa.ForeignKeyConstraint(
            ["subnet_id"], ["network_subnets.id"], name="fk_network_ip_allocations_subnet_id_network_subnets"
        ),
        sa.ForeignKeyConstraint(
            ["port_id"],
            ["network_ports.id"],
            ondelete="CASCADE",
            name="fk_network_ip_allocations_port_id_network_ports",
        ),
    )
    op.create_index("ix_network_ip_allocations_port_id", "network_ip_allocations", ["port_id"])
    op.create_index("ix_network_ip_allocations_network_id", "network_ip_allocations", ["network_id"])

    op.create_table(
        "network_security_groups",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("stateful", sa.Boolean, nullable=False),
        sa.Column("default_for_project", sa.String(64)),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_network_security_groups"),
        sa.UniqueConstraint("default_for_project", name="uq_network_security_groups_default_for_project"),
    )
    op.create_index("ix_network_security_groups_project_id", "network_security_groups", ["project_id"])

    op.create_table(
        "network_port_security_groups",
        sa.Column("port_id", sa.String(36), nullable=False),
        sa.Column("security_group_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("port_id", "security_group_id", name="pk_network_port_security_groups"),
        sa.ForeignKeyConstraint(
            ["port_id"],
            ["network_ports.id"],
            ondelete="CASCADE",
            name="fk_network_port_security_groups_port_id_network_ports",
        ),
        sa.ForeignKeyConstraint(
            ["security_group_id"],
            ["network_security_groups.id"],
            name="fk_network_port_security_groups_security_group_id",
        ),
    )

    op.create_table(
        "network_security_group_rules",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("security_group_id", sa.String(36), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("ethertype", sa.String(8), nullable=False),
        sa.Column("protocol", sa.String(40)),
        sa.Column("port_range_min", sa.Integer),
        sa.Column("port_range_max", sa.Integer),
        sa.Column("remote_ip_prefix", sa.String(64)),
        sa.Column("remote_group_id", sa.String(36)),
        sa.Column("description", sa.String(1024), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_network_security_group_rules"),
        sa.ForeignKeyConstraint(
            ["security_group_id"],
            ["network_security_groups.id"],
            ondelete="CASCADE",
            name="fk_network_security_group_rules_security_group_id",
        ),
        sa.ForeignKeyConstraint(
            ["remote_group_id"],
            ["network_security_groups.id"],
            ondelete="CASCADE",
            name="fk_network_security_group_rules_remote_group_id",
        ),
    )
    op.create_index("ix_network_security_group_rules_project_id", "network_security_group_rules", ["project_id"])
    op.create_index(
        "ix_network_security_group_rules_security_group_id", "network_security_group_rules", ["security_group_id"]
    )

    op.create_table(
        "network_routers",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("admin_state_up", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("gw_port_id", sa.String(36)),
        sa.Column("enable_snat", sa.Boolean, nullable=False),
        sa.Column("routes", sa.JSON, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_network_routers"),
        sa.ForeignKeyConstraint(
            ["gw_port_id"], ["network_ports.id"], name="fk_network_routers_gw_port_id_network_ports"
        ),
    )
    op.create_index("ix_network_routers_project_id", "network_routers", ["project_id"])

    op.create_table(
        "network_floating_ips",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("floating_network_id", sa.String(36), nullable=False),
        sa.Column("floating_port_id", sa.String(36), nullable=False),
        sa.Column("floating_ip_address", sa.String(64), nullable=False),
        sa.Column("fixed_port_id", sa.String(36)),
        sa.Column("fixed_ip_address", sa.String(64)),
        sa.Column("router_id", sa.String(36)),
        sa.Column("status", sa.String(16), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_network_floating_ips"),
        sa.ForeignKeyConstraint(
            ["floating_network_id"],
            ["network_networks.id"],
            name="fk_network_floating_ips_floating_network_id_network_networks",
        ),
        sa.ForeignKeyConstraint(
            ["floating_port_id"], ["network_ports.id"], name="fk_network_floating_ips_floating_port_id_network_ports"
        ),
        sa.ForeignKeyConstraint(
            ["fixed_port_id"], ["network_ports.id"], name="fk_network_floating_ips_fixed_port_id_network_ports"
        ),
        sa.ForeignKeyConstraint(
            ["router_id"], ["network_routers.id"], name="fk_network_floating_ips_router_id_network_routers"
        ),
        sa.UniqueConstraint("floating_port_id", name="uq_network_floating_ips_floating_port_id"),
        sa.UniqueConstraint("fixed_port_id", "fixed_ip_address", name="uq_network_floating_ips_fixed"),
    )
    op.create_index("ix_network_floating_ips_project_id", "network_floating_ips", ["project_id"])

    op.create_table(
        "network_quotas",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("limit", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("project_id", "resource", name="pk_network_quotas"),
    )


def downgrade() -> None:
    for table in (
        "network_quotas",
        "network_floating_ips",
        "network_routers",
        "network_security_group_rules",
        "network_port_security_groups",
        "network_security_groups",
        "network_ip_allocations",
        "network_ports",
        "network_subnets",
        "network_networks",
    ):
        op.drop_table(table)
