"""Issue 18: volume backups and transfers, host aggregates (``volume_backups``,
``volume_transfers``, ``compute_aggregates``).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "volume_backups",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("volume_id", sa.String(36), nullable=False),
        sa.Column("snapshot_id", sa.String(36)),
        sa.Column("name", sa.String(255)),
        sa.Column("description", sa.String(255)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("fail_reason", sa.Text),
        sa.Column("availability_zone", sa.String(255), nullable=False),
        sa.Column("container", sa.String(255), nullable=False),
        sa.Column("object_prefix", sa.String(512), nullable=False),
        sa.Column("driver", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("object_count", sa.Integer, nullable=False),
        sa.Column("stored_bytes", sa.BigInteger, nullable=False),
        sa.Column("parent_id", sa.String(36)),
        sa.Column("is_incremental", sa.Boolean, nullable=False),
        sa.Column("restore_volume_id", sa.String(36)),
        sa.Column("data_timestamp", sa.DateTime),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_volume_backups"),
    )
    op.create_index("ix_volume_backups_project_id", "volume_backups", ["project_id"])
    op.create_index("ix_volume_backups_volume_id", "volume_backups", ["volume_id"])
    op.create_index("ix_volume_backups_parent_id", "volume_backups", ["parent_id"])
    op.create_table(
        "volume_transfers",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("volume_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("crypt_hash", sa.String(128), nullable=False),
        sa.Column("source_project_id", sa.String(64), nullable=False),
        sa.Column("no_snapshots", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_volume_transfers"),
    )
    op.create_index("ix_volume_transfers_volume_id", "volume_transfers", ["volume_id"])
    op.create_index("ix_volume_transfers_source_project_id", "volume_transfers", ["source_project_id"])
    op.create_table(
        "compute_aggregates",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("hosts", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_compute_aggregates"),
        sa.UniqueConstraint("uuid", name="uq_compute_aggregates_uuid"),
        sa.UniqueConstraint("name", name="uq_compute_aggregates_name"),
    )


def downgrade() -> None:
    op.drop_table("compute_aggregates")
    op.drop_table("volume_transfers")
    op.drop_table("volume_backups")
