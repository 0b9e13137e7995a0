"""The compute service's tables.

Revision ID: 0004
Revises: 0003

Reserved in the chain so that services developed in parallel never create two heads;
the compute service fills in its tables here.
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
