"""The volume service's tables.

Revision ID: 0006
Revises: 0005
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DEFAULT_TYPE_ID = "00000000-0000-0000-0000-00000000d0f7"


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    ]


def upgrade() -> None:
    types = op.create_table(
        "volume_types",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(255)),
        sa.Column("is_public", sa.Boolean, nullable=False),
        sa.Column("extra_specs", sa.JSON, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_volume_types"),
        sa.UniqueConstraint("name", name="uq_volume_types_name"),
    )
    op.create_table(
        "volumes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("description", sa.String(255)),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("previous_status", sa.String(32)),
        sa.Column("error", sa.Text),
        sa.Column("availability_zone", sa.String(255), nullable=False),
        sa.Column("volume_type_id", sa.String(36), nullable=False),
        sa.Column("backend", sa.String(255)),
        sa.Column("location", sa.String(1024)),
        sa.Column("copy_on_write", sa.Boolean, nullable=False),
        sa.Column("snapshot_id", sa.String(36)),
        sa.Column("source_volid", sa.String(36)),
        sa.Column("image_id", sa.String(36)),
        sa.Column("image_metadata", sa.JSON, nullable=False),
        sa.Column("multiattach", sa.Boolean, nullable=False),
        sa.Column("bootable", sa.Boolean, nullable=False),
        sa.Column("readonly", sa.Boolean, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_volumes"),
        sa.ForeignKeyConstraint(["volume_type_id"], ["volume_types.id"], name="fk_volumes_volume_type_id_volume_types"),
    )
    op.create_index("ix_volumes_project_id", "volumes", ["project_id"])
    op.create_table(
        "volume_snapshots",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("volume_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("description", sa.String(255)),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("location", sa.String(1024)),
        sa.Column("metadata", sa.JSON, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_volume_snapshots"),
        sa.ForeignKeyConstraint(["volume_id"], ["volumes.id"], name="fk_volume_snapshots_volume_id_volumes"),
    )
    op.create_index("ix_volume_snapshots_project_id", "volume_snapshots", ["project_id"])
    op.create_index("ix_volume_snapshots_volume_id", "volume_snapshots", ["volume_id"])
    op.create_table(
        "volume_attachments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("volume_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.Column("attached_host", sa.String(255)),
        sa.Column("mountpoint", sa.String(255)),
        sa.Column("attach_mode", sa.String(4), nullable=False),
        sa.Column("attach_status", sa.String(32), nullable=False),
        sa.Column("connector", sa.JSON),
        sa.Column("connection_info", sa.JSON),
        sa.Column("attached_at", sa.DateTime),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_volume_attachments"),
        sa.ForeignKeyConstraint(["volume_id"], ["volumes.id"], name="fk_volume_attachments_volume_id_volumes"),
        sa.UniqueConstraint("volume_id", "instance_uuid", name="uq_volume_attachments_volume_instance"),
    )
    op.create_index("ix_volume_attachments_volume_id", "volume_attachments", ["volume_id"])
    op.create_table(
        "volume_quotas",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("hard_limit", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_volume_quotas"),
        sa.UniqueConstraint("project_id", "resource", name="uq_volume_quotas_project_resource"),
    )
    op.create_table(
        "volume_quota_usages",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("in_use", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_volume_quota_usages"),
        sa.UniqueConstraint("project_id", "resource", name="uq_volume_quota_usages_project_resource"),
    )
    op.create_table(
        "volume_backend_services",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("driver", sa.String(64), nullable=False),
        sa.Column("availability_zone", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.String(255)),
        sa.Column("up", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("total_gb", sa.Float, nullable=False),
        sa.Column("free_gb", sa.Float, nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("last_seen_at", sa.DateTime),
        *_stamps(),
        sa.PrimaryKeyConstraint("name", name="pk_volume_backend_services"),
    )
    now = datetime.utcnow()
    op.bulk_insert(
        types,
        [
            {
                "id": DEFAULT_TYPE_ID,
                "name": "__DEFAULT__",
                "description": "Default Volume Type",
                "is_public": True,
                "extra_specs": {},
                "created_at": now,
                "updated_at": now,
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("volume_backend_services")
    op.drop_table("volume_quota_usages")
    op.drop_table("volume_quotas")
    op.drop_table("volume_attachments")
    op.drop_table("volume_snapshots")
    op.drop_table("volumes")
    op.drop_table("volume_types")
