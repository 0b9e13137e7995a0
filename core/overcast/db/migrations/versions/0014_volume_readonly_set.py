"""Block storage: a volume's ``readonly`` flag may be unset (NULL).

Cinder keeps ``readonly`` in a volume's admin metadata, which is shown in the volume's
``metadata`` only once ``os-update_readonly_flag`` has set it (to "True" or "False").
NULL is "never set"; the rows that exist keep their value when it is true.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("volumes") as batch:
        batch.alter_column("readonly", existing_type=sa.Boolean(), nullable=True)
    op.execute(sa.text("UPDATE volumes SET readonly = NULL WHERE readonly = :f").bindparams(f=False))


def downgrade() -> None:
    op.execute(sa.text("UPDATE volumes SET readonly = :f WHERE readonly IS NULL").bindparams(f=False))
    with op.batch_alter_table("volumes") as batch:
        batch.alter_column("readonly", existing_type=sa.Boolean(), nullable=False)
