"""The identity service's tables.

Revision ID: 0002
Revises: 0001

Reserved in the chain so that services developed in parallel never create two heads;
the identity service fills in its tables here.
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
