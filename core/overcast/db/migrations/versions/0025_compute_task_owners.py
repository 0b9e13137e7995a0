"""Compute: which process runs each server's task (``compute_instances.task_owner``) and the
processes that run tasks, each alive while its ``expires_at`` is ahead
(``compute_task_runners``), so a starting controller takes over only the tasks of processes
that are gone, not those another live controller is running.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compute_task_runners",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_compute_task_runners"),
    )
    with op.batch_alter_table("compute_instances") as batch:
        batch.add_column(sa.Column("task_owner", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compute_instances") as batch:
        batch.drop_column("task_owner")
    op.drop_table("compute_task_runners")
