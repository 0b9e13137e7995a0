"""Identity: role assignments on the system, for system-scoped tokens.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_system_assignments",
        sa.Column("actor_type", sa.String(8), primary_key=True),
        sa.Column("actor_id", sa.String(64), primary_key=True),
        sa.Column("role_id", sa.String(64), sa.ForeignKey("identity_roles.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_identity_system_assignments_role_id", "identity_system_assignments", ["role_id"])


def downgrade() -> None:
    op.drop_index("ix_identity_system_assignments_role_id", "identity_system_assignments")
    op.drop_table("identity_system_assignments")
