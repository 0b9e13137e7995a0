"""Compute: the content of a server's config drive, frozen when it is built (as Nova's
drive is written once at spawn), so a migration or rebuild writes the same drive (issue 17).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_instances") as batch:
        batch.add_column(sa.Column("config_drive_files", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("compute_instances") as batch:
        batch.drop_column("config_drive_files")
