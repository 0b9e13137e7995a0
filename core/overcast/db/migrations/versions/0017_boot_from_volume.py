"""Compute (issue 18): the block device mappings a server create asked for (boot from volume),
and the image a shelved server was snapshotted into.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_instances") as batch:
        batch.add_column(sa.Column("block_device_requests", sa.JSON, nullable=True))
        batch.add_column(sa.Column("shelved_image_id", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compute_instances") as batch:
        batch.drop_column("shelved_image_id")
        batch.drop_column("block_device_requests")
