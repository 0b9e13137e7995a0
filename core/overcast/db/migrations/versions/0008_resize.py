"""Compute: the ``config_drive`` flag of a server, and the flavors before and after a
resize on its migration record (what confirm and revert apply).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_instances") as batch:
        batch.add_column(sa.Column("config_drive", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("compute_migrations") as batch:
        batch.add_column(sa.Column("old_flavor", sa.JSON))
        batch.add_column(sa.Column("new_flavor", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("compute_migrations") as batch:
        batch.drop_column("new_flavor")
        batch.drop_column("old_flavor")
    with op.batch_alter_table("compute_instances") as batch:
        batch.drop_column("config_drive")
