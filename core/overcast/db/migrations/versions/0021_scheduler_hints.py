"""Compute (issue 16): the scheduler hints a server create asked for besides its group
(``same_host``, ``different_host``), kept for the scheduler as Nova keeps them in the
request spec.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_instances") as batch:
        batch.add_column(sa.Column("scheduler_hints", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compute_instances") as batch:
        batch.drop_column("scheduler_hints")
