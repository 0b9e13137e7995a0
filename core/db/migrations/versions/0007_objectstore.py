"""The objectstore service's tables.

Revision ID: 0007
Revises: 0006

Reserved in the chain so that services developed in parallel never create two heads;
the objectstore service fills in its tables here.
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
