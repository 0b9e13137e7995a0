"""The image service's tables.

Revision ID: 0003
Revises: 0002

Reserved in the chain so that services developed in parallel never create two heads;
the image service fills in its tables here.
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
