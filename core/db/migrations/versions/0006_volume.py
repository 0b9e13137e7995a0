"""The volume service's tables.

Revision ID: 0006
Revises: 0005

Reserved in the chain so that services developed in parallel never create two heads;
the volume service fills in its tables here.
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
