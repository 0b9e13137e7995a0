"""Volumes (issue 18): ``migration_status``, as Cinder keeps it, for a volume moved to another
backend (``os-migrate_volume``, ``os-retype`` with ``migration_policy: on-demand``): ``starting``,
``migrating``, ``completing``, then ``success`` or ``error``; ``target:<id>`` on the
temporary volume that receives the data.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("volumes") as batch:
        batch.add_column(sa.Column("migration_status", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("volumes") as batch:
        batch.drop_column("migration_status")
