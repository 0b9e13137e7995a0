"""The compute service's tables.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _fk(column: str, target: str, table: str) -> sa.ForeignKeyConstraint:
    # PostgreSQL limits identifiers to 63 characters, so the referred table is left out
    return sa.ForeignKeyConstraint([column], [target], ondelete="CASCADE", name=f"fk_{table}_{column}")


def upgrade() -> None:
    op.create_table(
        "compute_flavors",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("vcpus", sa.Integer, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("root_gb", sa.Integer, nullable=False),
        sa.Column("ephemeral_gb", sa.Integer, nullable=False),
        sa.Column("swap_mb", sa.Integer, nullable=False),
        sa.Column("rxtx_factor", sa.Float, nullable=False),
        sa.Column("is_public", sa.Boolean, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("description", sa.String(65535)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_compute_flavors"),
        sa.UniqueConstraint("name", name="uq_compute_flavors_name"),
    )
    op.create_table(
        "compute_flavor_extra_specs",
        sa.Column("flavor_id", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("flavor_id", "key", name="pk_compute_flavor_extra_specs"),
        _fk("flavor_id", "compute_flavors.id", "compute_flavor_extra_specs"),
    )
    op.create_table(
        "compute_flavor_access",
        sa.Column("flavor_id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("flavor_id", "project_id", name="pk_compute_flavor_access"),
        _fk("flavor_id", "compute_flavors.id", "compute_flavor_access"),
    )
    op.create_table(
        "compute_instances",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("hv_name", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("description", sa.String(255)),
        sa.Column("vm_state", sa.String(32), nullable=False),
        sa.Column("task_state", sa.String(32)),
        sa.Column("power_state", sa.String(32), nullable=False),
        sa.Column("host", sa.String(255)),
        sa.Column("availability_zone", sa.String(255)),
        sa.Column("requested_zone", sa.String(255)),
        sa.Column("flavor_id", sa.String(255), nullable=False),
        sa.Column("flavor", sa.JSON, nullable=False),
        sa.Column("image_ref", sa.String(255), nullable=False),
        sa.Column("image", sa.JSON),
        sa.Column("key_name", sa.String(255)),
        sa.Column("key_data", sa.Text),
        sa.Column("user_data", sa.Text),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("requested_networks", sa.JSON, nullable=False),
        sa.Column("addresses", sa.JSON, nullable=False),
        sa.Column("server_group_id", sa.String(36)),
        sa.Column("access_ipv4", sa.String(64), nullable=False),
        sa.Column("access_ipv6", sa.String(64), nullable=False),
        sa.Column("locked", sa.Boolean, nullable=False),
        sa.Column("progress", sa.Integer, nullable=False),
        sa.Column("launched_at", sa.DateTime),
        sa.Column("terminated_at", sa.DateTime),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("deleted_at", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("uuid", name="pk_compute_instances"),
    )
    op.create_index("ix_compute_instances_project_deleted", "compute_instances", ["project_id", "deleted"])
    op.create_index("ix_compute_instances_host", "compute_instances", ["host"])
    op.create_table(
        "compute_instance_faults",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.Column("code", sa.Integer, nullable=False),
        sa.Column("message", sa.String(255), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_compute_instance_faults"),
        _fk("instance_uuid", "compute_instances.uuid", "compute_instance_faults"),
    )
    op.create_index("ix_compute_instance_faults_instance_uuid", "compute_instance_faults", ["instance_uuid"])
    op.create_table(
        "compute_instance_actions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("message", sa.String(255)),
        sa.Column("start_time", sa.DateTime, nullable=False),
        sa.Column("finish_time", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_compute_instance_actions"),
        _fk("instance_uuid", "compute_instances.uuid", "compute_instance_actions"),
    )
    op.create_index("ix_compute_instance_actions_instance_uuid", "compute_instance_actions", ["instance_uuid"])
    op.create_table(
        "compute_migrations",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.Column("migration_type", sa.String(32), nullable=False),
        sa.Column("source_host", sa.String(255), nullable=False),
        sa.Column("dest_host", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_compute_migrations"),
        sa.UniqueConstraint("uuid", name="uq_compute_migrations_uuid"),
        _fk("instance_uuid", "compute_instances.uuid", "compute_migrations"),
    )
    op.create_index("ix_compute_migrations_instance_uuid", "compute_migrations", ["instance_uuid"])
    op.create_table(
        "compute_server_groups",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_compute_server_groups"),
    )
    op.create_index("ix_compute_server_groups_project_id", "compute_server_groups", ["project_id"])
    op.create_table(
        "compute_server_group_members",
        sa.Column("group_id", sa.String(36), nullable=False),
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "instance_uuid", name="pk_compute_server_group_members"),
        _fk("group_id", "compute_server_groups.id", "compute_server_group_members"),
    )
    op.create_table(
        "compute_keypairs",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(255), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_compute_keypairs"),
        sa.UniqueConstraint("user_id", "name", name="uq_compute_keypairs_user_id"),
    )
    op.create_table(
        "compute_quota_limits",
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("hard_limit", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("project_id", "resource", name="pk_compute_quota_limits"),
    )
    op.create_table(
        "compute_quota_usages",
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("in_use", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("project_id", "resource", name="pk_compute_quota_usages"),
    )
    op.create_table(
        "compute_block_device_mappings",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.Column("volume_id", sa.String(36), nullable=False),
        sa.Column("attachment_id", sa.String(36)),
        sa.Column("device_name", sa.String(64), nullable=False),
        sa.Column("connection_info", sa.JSON, nullable=False),
        sa.Column("delete_on_termination", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_compute_block_device_mappings"),
        sa.UniqueConstraint("instance_uuid", "device_name", name="uq_compute_block_device_mappings_instance_uuid"),
        _fk("instance_uuid", "compute_instances.uuid", "compute_block_device_mappings"),
    )
    op.create_index(
        "ix_compute_block_device_mappings_instance_uuid", "compute_block_device_mappings", ["instance_uuid"]
    )
    op.create_index("ix_compute_block_device_mappings_volume_id", "compute_block_device_mappings", ["volume_id"])
    op.create_table(
        "compute_instance_ports",
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.Column("port_id", sa.String(36), nullable=False),
        sa.Column("network_id", sa.String(36), nullable=False),
        sa.Column("vif", sa.JSON, nullable=False),
        sa.Column("created_by_compute", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("instance_uuid", "port_id", name="pk_compute_instance_ports"),
        _fk("instance_uuid", "compute_instances.uuid", "compute_instance_ports"),
    )
    op.create_table(
        "compute_instance_tags",
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.Column("tag", sa.String(60), nullable=False),
        sa.PrimaryKeyConstraint("instance_uuid", "tag", name="pk_compute_instance_tags"),
        _fk("instance_uuid", "compute_instances.uuid", "compute_instance_tags"),
    )


def downgrade() -> None:
    for table in (
        "compute_instance_tags",
        "compute_instance_ports",
        "compute_block_device_mappings",
        "compute_quota_usages",
        "compute_quota_limits",
        "compute_keypairs",
        "compute_server_group_members",
        "compute_server_groups",
        "compute_migrations",
        "compute_instance_actions",
        "compute_instance_faults",
        "compute_instances",
        "compute_flavor_access",
        "compute_flavor_extra_specs",
        "compute_flavors",
    ):
        op.drop_table(table)
