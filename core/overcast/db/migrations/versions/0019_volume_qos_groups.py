"""Block storage (issues 16 and 18): QoS specs, private volume type access, quota classes,
generic volume groups with their group types and group snapshots, user messages, and a
snapshot's progress (os-update_snapshot_status), and the volume metadata a backup restores.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "volume_qos_specs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("consumer", sa.String(16), nullable=False),
        sa.Column("specs", sa.JSON, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_volume_qos_specs"),
        sa.UniqueConstraint("name", name="uq_volume_qos_specs_name"),
    )
    with op.batch_alter_table("volume_types") as batch:
        batch.add_column(sa.Column("qos_specs_id", sa.String(36), nullable=True))
    op.create_table(
        "volume_type_projects",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("volume_type_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_volume_type_projects"),
        sa.ForeignKeyConstraint(
            ["volume_type_id"],
            ["volume_types.id"],
            name="fk_volume_type_projects_volume_type_id_volume_types",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("volume_type_id", "project_id", name="uq_volume_type_projects_type_project"),
    )
    op.create_table(
        "volume_quota_classes",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("class_name", sa.String(255), nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("hard_limit", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_volume_quota_classes"),
        sa.UniqueConstraint("class_name", "resource", name="uq_volume_quota_classes_class_resource"),
    )
    op.create_table(
        "volume_group_types",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(255)),
        sa.Column("is_public", sa.Boolean, nullable=False),
        sa.Column("group_specs", sa.JSON, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_volume_group_types"),
        sa.UniqueConstraint("name", name="uq_volume_group_types_name"),
    )
    op.create_table(
        "volume_groups",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("description", sa.String(255)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("availability_zone", sa.String(255), nullable=False),
        sa.Column("group_type_id", sa.String(36), nullable=False),
        sa.Column("volume_type_ids", sa.JSON, nullable=False),
        sa.Column("group_snapshot_id", sa.String(36)),
        sa.Column("source_group_id", sa.String(36)),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_volume_groups"),
    )
    op.create_index("ix_volume_groups_project_id", "volume_groups", ["project_id"])
    op.create_table(
        "volume_group_snapshots",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("group_id", sa.String(36), nullable=False),
        sa.Column("group_type_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("description", sa.String(255)),
        sa.Column("status", sa.String(32), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_volume_group_snapshots"),
    )
    op.create_index("ix_volume_group_snapshots_project_id", "volume_group_snapshots", ["project_id"])
    op.create_index("ix_volume_group_snapshots_group_id", "volume_group_snapshots", ["group_id"])
    op.create_table(
        "volume_messages",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(255), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_uuid", sa.String(36)),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("message_level", sa.String(16), nullable=False),
        sa.Column("user_message", sa.String(1024), nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_volume_messages"),
    )
    op.create_index("ix_volume_messages_project_id", "volume_messages", ["project_id"])
    with op.batch_alter_table("volumes") as batch:
        batch.add_column(sa.Column("group_id", sa.String(36), nullable=True))
        batch.create_index("ix_volumes_group_id", ["group_id"])
    with op.batch_alter_table("volume_snapshots") as batch:
        batch.add_column(sa.Column("group_snapshot_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("progress", sa.String(255), nullable=True))
        batch.create_index("ix_volume_snapshots_group_snapshot_id", ["group_snapshot_id"])
    with op.batch_alter_table("volume_backups") as batch:
        batch.add_column(sa.Column("volume_metadata", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("volume_backups") as batch:
        batch.drop_column("volume_metadata")
    with op.batch_alter_table("volume_snapshots") as batch:
        batch.drop_index("ix_volume_snapshots_group_snapshot_id")
        batch.drop_column("progress")
        batch.drop_column("group_snapshot_id")
    with op.batch_alter_table("volumes") as batch:
        batch.drop_index("ix_volumes_group_id")
        batch.drop_column("group_id")
    op.drop_table("volume_messages")
    op.drop_table("volume_group_snapshots")
    op.drop_table("volume_groups")
    op.drop_table("volume_group_types")
    op.drop_table("volume_quota_classes")
    op.drop_table("volume_type_projects")
    with op.batch_alter_table("volume_types") as batch:
        batch.drop_column("qos_specs_id")
    op.drop_table("volume_qos_specs")
