"""The load-balancer service's tables: load balancers, listeners, pools, members, health
monitors, L7 policies and rules, and per-project quotas.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = (
    "lb_l7rules",
    "lb_l7policies",
    "lb_healthmonitors",
    "lb_members",
    "lb_pools",
    "lb_listeners",
    "lb_quotas",
    "lb_loadbalancers",
)


def upgrade() -> None:
    op.create_table(
        "lb_loadbalancers",
        sa.Column("vip_address", sa.String(length=64), nullable=False),
        sa.Column("vip_port_id", sa.String(length=36), nullable=False),
        sa.Column("vip_subnet_id", sa.String(length=36), nullable=False),
        sa.Column("vip_network_id", sa.String(length=36), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("flavor_id", sa.String(length=36), nullable=True),
        sa.Column("availability_zone", sa.String(length=255), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("vip_sg_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_loadbalancers")),
    )
    op.create_index(op.f("ix_lb_loadbalancers_project_id"), "lb_loadbalancers", ["project_id"], unique=False)
    op.create_table(
        "lb_quotas",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "resource", name=op.f("pk_lb_quotas")),
    )
    op.create_table(
        "lb_listeners",
        sa.Column("loadbalancer_id", sa.String(length=36), nullable=False),
        sa.Column("protocol", sa.String(length=32), nullable=False),
        sa.Column("protocol_port", sa.Integer(), nullable=False),
        sa.Column("connection_limit", sa.Integer(), nullable=False),
        sa.Column("default_pool_id", sa.String(length=36), nullable=True),
        sa.Column("timeout_client_data", sa.Integer(), nullable=False),
        sa.Column("timeout_member_connect", sa.Integer(), nullable=False),
        sa.Column("timeout_member_data", sa.Integer(), nullable=False),
        sa.Column("timeout_tcp_inspect", sa.Integer(), nullable=False),
        sa.Column("insert_headers", sa.JSON(), nullable=False),
        sa.Column("allowed_cidrs", sa.JSON(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loadbalancer_id"],
            ["lb_loadbalancers.id"],
            name=op.f("fk_lb_listeners_loadbalancer_id_lb_loadbalancers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_listeners")),
        sa.UniqueConstraint("loadbalancer_id", "protocol_port", name="uq_lb_listeners_port"),
    )
    op.create_index(op.f("ix_lb_listeners_loadbalancer_id"), "lb_listeners", ["loadbalancer_id"], unique=False)
    op.create_index(op.f("ix_lb_listeners_project_id"), "lb_listeners", ["project_id"], unique=False)
    op.create_table(
        "lb_pools",
        sa.Column("loadbalancer_id", sa.String(length=36), nullable=False),
        sa.Column("listener_id", sa.String(length=36), nullable=True),
        sa.Column("protocol", sa.String(length=32), nullable=False),
        sa.Column("lb_algorithm", sa.String(length=32), nullable=False),
        sa.Column("session_persistence", sa.JSON(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loadbalancer_id"],
            ["lb_loadbalancers.id"],
            name=op.f("fk_lb_pools_loadbalancer_id_lb_loadbalancers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_pools")),
    )
    op.create_index(op.f("ix_lb_pools_listener_id"), "lb_pools", ["listener_id"], unique=False)
    op.create_index(op.f("ix_lb_pools_loadbalancer_id"), "lb_pools", ["loadbalancer_id"], unique=False)
    op.create_index(op.f("ix_lb_pools_project_id"), "lb_pools", ["project_id"], unique=False)
    op.create_table(
        "lb_healthmonitors",
        sa.Column("loadbalancer_id", sa.String(length=36), nullable=False),
        sa.Column("pool_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("delay", sa.Integer(), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("max_retries_down", sa.Integer(), nullable=False),
        sa.Column("http_method", sa.String(length=16), nullable=True),
        sa.Column("url_path", sa.String(length=2048), nullable=True),
        sa.Column("expected_codes", sa.String(length=64), nullable=True),
        sa.Column("http_version", sa.Float(), nullable=True),
        sa.Column("domain_name", sa.String(length=255), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loadbalancer_id"],
            ["lb_loadbalancers.id"],
            name=op.f("fk_lb_healthmonitors_loadbalancer_id_lb_loadbalancers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["lb_pools.id"], name=op.f("fk_lb_healthmonitors_pool_id_lb_pools"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_healthmonitors")),
    )
    op.create_index(
        op.f("ix_lb_healthmonitors_loadbalancer_id"), "lb_healthmonitors", ["loadbalancer_id"], unique=False
    )
    op.create_index(op.f("ix_lb_healthmonitors_pool_id"), "lb_healthmonitors", ["pool_id"], unique=True)
    op.create_index(op.f("ix_lb_healthmonitors_project_id"), "lb_healthmonitors", ["project_id"], unique=False)
    op.create_table(
        "lb_l7policies",
        sa.Column("loadbalancer_id", sa.String(length=36), nullable=False),
        sa.Column("listener_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("redirect_url", sa.String(length=2048), nullable=True),
        sa.Column("redirect_prefix", sa.String(length=2048), nullable=True),
        sa.Column("redirect_pool_id", sa.String(length=36), nullable=True),
        sa.Column("redirect_http_code", sa.Integer(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listener_id"],
            ["lb_listeners.id"],
            name=op.f("fk_lb_l7policies_listener_id_lb_listeners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["loadbalancer_id"],
            ["lb_loadbalancers.id"],
            name=op.f("fk_lb_l7policies_loadbalancer_id_lb_loadbalancers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_l7policies")),
    )
    op.create_index(op.f("ix_lb_l7policies_listener_id"), "lb_l7policies", ["listener_id"], unique=False)
    op.create_index(op.f("ix_lb_l7policies_loadbalancer_id"), "lb_l7policies", ["loadbalancer_id"], unique=False)
    op.create_index(op.f("ix_lb_l7policies_project_id"), "lb_l7policies", ["project_id"], unique=False)
    op.create_table(
        "lb_members",
        sa.Column("loadbalancer_id", sa.String(length=36), nullable=False),
        sa.Column("pool_id", sa.String(length=36), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("protocol_port", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("backup", sa.Boolean(), nullable=False),
        sa.Column("subnet_id", sa.String(length=36), nullable=True),
        sa.Column("monitor_address", sa.String(length=64), nullable=True),
        sa.Column("monitor_port", sa.Integer(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loadbalancer_id"],
            ["lb_loadbalancers.id"],
            name=op.f("fk_lb_members_loadbalancer_id_lb_loadbalancers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["lb_pools.id"], name=op.f("fk_lb_members_pool_id_lb_pools"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_members")),
        sa.UniqueConstraint("pool_id", "address", "protocol_port", name="uq_lb_members_address"),
    )
    op.create_index(op.f("ix_lb_members_loadbalancer_id"), "lb_members", ["loadbalancer_id"], unique=False)
    op.create_index(op.f("ix_lb_members_pool_id"), "lb_members", ["pool_id"], unique=False)
    op.create_index(op.f("ix_lb_members_project_id"), "lb_members", ["project_id"], unique=False)
    op.create_table(
        "lb_l7rules",
        sa.Column("loadbalancer_id", sa.String(length=36), nullable=False),
        sa.Column("l7policy_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("compare_type", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=True),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("invert", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["l7policy_id"],
            ["lb_l7policies.id"],
            name=op.f("fk_lb_l7rules_l7policy_id_lb_l7policies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["loadbalancer_id"],
            ["lb_loadbalancers.id"],
            name=op.f("fk_lb_l7rules_loadbalancer_id_lb_loadbalancers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lb_l7rules")),
    )
    op.create_index(op.f("ix_lb_l7rules_l7policy_id"), "lb_l7rules", ["l7policy_id"], unique=False)
    op.create_index(op.f("ix_lb_l7rules_loadbalancer_id"), "lb_l7rules", ["loadbalancer_id"], unique=False)
    op.create_index(op.f("ix_lb_l7rules_project_id"), "lb_l7rules", ["project_id"], unique=False)
    # ### end Alembic commands ###


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
