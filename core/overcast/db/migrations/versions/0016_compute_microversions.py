"""Compute: a server's lock reason (microversion 2.73).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_instances") as batch:
        batch.add_column(sa.Column("locked_reason", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compute_instances") as batch:
        batch.drop_column("locked_reason")
